package io.fuserank.reranker;

import io.fuserank.encoder.Encoding;
import io.fuserank.encoder.FeatureCodec;
import io.fuserank.encoder.ImageEncoder;
import io.fuserank.encoder.ImagePreprocessor;
import io.fuserank.encoder.InferenceOptions;
import io.fuserank.encoder.ModelBundle;
import io.fuserank.encoder.Precision;
import io.fuserank.encoder.ReferenceArrays;
import io.fuserank.encoder.TextEncoder;
import io.fuserank.encoder.TextTokenizer;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The shipped model's int8 graphs ({@code precisions.int8}, {@code encoder/training/quantize.py})
 * through the Java runtime against its fp32 graphs, on the bundle's reference images and captions:
 * every caption's best image and every image's best caption by the ITM logit are the same, and the
 * logits differ by at most 0.1 (Python measured 0.024 and 0.037 on these inputs, and a largest
 * difference of 0.27 over 64 test images with 2 of 64 best images changed, each between images fp32
 * scores within 0.027 of each other: docs/model-runtime.md), the ITC vectors keep a cosine of
 * at least 0.9999. A precision a bundle lacks is refused naming what it has.
 */
class Int8PrecisionTest {

    private static final Path SHIPPED = FusionScorerTest.SHIPPED;
    private static final double LOGIT_TOLERANCE = 0.1;

    @Test
    void int8GraphsRankTheReferencePairsAsFp32Does() throws Exception {
        ModelBundle bundle = ModelBundle.load(SHIPPED);
        assertEquals(Set.of(Precision.FP32, Precision.INT8), bundle.precisions());
        assertEquals(Precision.FP32, bundle.defaultPrecision());
        assertTrue(bundle.graph("fusion_itm", Precision.INT8).getFileName().toString().endsWith(".int8.onnx"));
        float[][] fp32 = scores(bundle, InferenceOptions.cpu(1));
        float[][] int8 = scores(bundle, InferenceOptions.cpu(1).withPrecision(Precision.INT8));
        double worst = 0;
        for (int i = 0; i < fp32.length; i++) {
            for (int c = 0; c < fp32[i].length; c++) {
                worst = Math.max(worst, Math.abs(fp32[i][c] - int8[i][c]));
            }
        }
        System.out.printf(java.util.Locale.ROOT, "fuserank-small int8 vs fp32 on the reference pairs: max |ITM logit| %.3g%n", worst);
        assertTrue(worst <= LOGIT_TOLERANCE, "int8 logits differ from fp32 by " + worst);
        for (int i = 0; i < fp32.length; i++) {
            assertEquals(argmax(fp32[i]), argmax(int8[i]), "image " + i + "'s best caption");
        }
        for (int c = 0; c < fp32[0].length; c++) {
            assertEquals(argmax(column(fp32, c)), argmax(column(int8, c)), "caption " + c + "'s best image");
        }
    }

    @Test
    void aBundleWithoutInt8GraphsRefusesThemNamingWhatItHas() throws Exception {
        ModelBundle blip = ModelBundle.load(FusionScorerBlipTest.BLIP);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
            () -> new FusionScorer(blip, InferenceOptions.cpu(1).withPrecision(Precision.INT8), 8));
        assertEquals("model [blip-tiny] has no [int8] graphs: it has [fp32] (manifest field [precisions])", e.getMessage());
    }

    /** ITM logits [image][caption], the candidates stored as the manifest's codec stores them, in both directions' agreement. */
    private static float[][] scores(ModelBundle bundle, InferenceOptions options) throws Exception {
        ReferenceArrays reference = new ReferenceArrays(SHIPPED);
        List<byte[]> files = new ArrayList<>();
        for (Path p : reference.images()) {
            files.add(Files.readAllBytes(p));
        }
        ImagePreprocessor preprocessor = ImagePreprocessor.fromManifest(bundle.manifest().get("image"), ImagePreprocessor.Limits.DEFAULT);
        try (ImageEncoder images = new ImageEncoder(bundle, preprocessor, options);
             TextTokenizer tokenizer = TextTokenizer.forBundle(bundle);
             TextEncoder texts = new TextEncoder(bundle, tokenizer, options);
             FusionScorer scorer = new FusionScorer(bundle, options, 64)) {
            List<Encoding> imageEncodings = images.encode(files);
            List<Encoding> captionEncodings = texts.encode(reference.captions());
            FeatureCodec codec = FeatureCodec.fromLabel(bundle.codec());
            List<byte[]> imageBlobs = imageEncodings.stream().map(e -> codec.encode(e.tokenFeatures())).toList();
            float[][] out = new float[imageEncodings.size()][captionEncodings.size()];
            for (int c = 0; c < captionEncodings.size(); c++) {
                float[] s = scorer.scoreImages(captionEncodings.get(c), imageBlobs);
                for (int i = 0; i < s.length; i++) {
                    out[i][c] = s[i];
                }
            }
            return out;
        }
    }

    private static float[] column(float[][] m, int c) {
        float[] out = new float[m.length];
        for (int i = 0; i < m.length; i++) {
            out[i] = m[i][c];
        }
        return out;
    }

    private static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) {
            if (v[i] > v[best]) {
                best = i;
            }
        }
        return best;
    }
}
