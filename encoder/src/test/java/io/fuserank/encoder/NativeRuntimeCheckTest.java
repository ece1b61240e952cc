package io.fuserank.encoder;

import ai.onnxruntime.OrtProvider;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class NativeRuntimeCheckTest {

    @Test
    void loadsOnnxRuntimeAndTokenizesTheProbeSentence() {
        NativeRuntimeCheck.Result result = NativeRuntimeCheck.run();

        assertEquals("1.29.0", result.onnxRuntimeVersion());
        assertTrue(result.onnxProviders().contains(OrtProvider.CPU), "CPU provider in " + result.onnxProviders());
        // [CLS] a red circle , left of the blue square ##s . [SEP] in the probe vocabulary:
        // lower-cased, punctuation split off, "squares" split into a WordPiece continuation.
        assertArrayEquals(new long[] { 2, 7, 8, 11, 6, 14, 16, 19, 9, 12, 22, 5, 3 }, result.probeTokenIds());
        assertTrue(result.summary().contains("onnxruntime 1.29.0"), result.summary());
    }

    @Test
    void restoresTheCallersContextClassLoader() {
        ClassLoader mine = new ClassLoader(null) {};
        Thread.currentThread().setContextClassLoader(mine);
        try {
            ClassLoader seen = NativeRuntimeCheck.withContextClassLoader(() -> Thread.currentThread().getContextClassLoader());
            assertEquals(NativeRuntimeCheck.class.getClassLoader(), seen);
            assertEquals(mine, Thread.currentThread().getContextClassLoader());
        } finally {
            Thread.currentThread().setContextClassLoader(NativeRuntimeCheck.class.getClassLoader());
        }
    }
}
