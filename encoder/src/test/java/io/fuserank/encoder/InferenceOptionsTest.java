package io.fuserank.encoder;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtProvider;
import ai.onnxruntime.OrtSession;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

class InferenceOptionsTest {

    @Test
    void cudaAskedForOnACpuBuildFallsBackToAWorkingCpuSession() throws Exception {
        boolean cudaBuild = OrtEnvironment.getAvailableProviders().contains(OrtProvider.CUDA);
        InferenceOptions options = new InferenceOptions(1, true, 0);
        assertEquals(cudaBuild, options.cudaActive());
        if (!cudaBuild) {
            ModelBundle bundle = ModelBundle.load(ModelBundleTest.SHIPPED);
            try (OrtSession session = options.open(bundle.graph("text_encoder"))) {
                assertEquals(2, session.getNumInputs());
            }
        }
        assertFalse(InferenceOptions.CPU.cudaActive());
    }

    @Test
    void badOptionsNameTheValue() {
        assertEquals("intraOpThreads must be >= 0, got [-1]",
            assertThrows(IllegalArgumentException.class, () -> new InferenceOptions(-1, false, 0)).getMessage());
        assertEquals("cudaDevice must be >= 0, got [-2]",
            assertThrows(IllegalArgumentException.class, () -> new InferenceOptions(0, true, -2)).getMessage());
    }
}
