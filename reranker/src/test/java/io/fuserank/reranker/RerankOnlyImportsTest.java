package io.fuserank.reranker;

import io.fuserank.encoder.Encoding;
import io.fuserank.encoder.FeatureCodec;
import io.fuserank.encoder.ImageEncoder;
import io.fuserank.encoder.ImagePreprocessor;
import io.fuserank.encoder.InferenceOptions;
import io.fuserank.encoder.ModelBundle;
import io.fuserank.encoder.ReferenceArrays;
import io.fuserank.encoder.TextEncoder;
import io.fuserank.encoder.TextTokenizer;
import io.fuserank.encoder.TokenFeatures;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The imported tiny BridgeTower ({@code bundles/bridgetower-tiny}, {@code make-bridgetower-tiny}) and
 * ViLT ({@code bundles/vilt-tiny}, {@code make-vilt-tiny}) retrieval checkpoints through the whole
 * Java runtime, against what the importer saved from the Hugging Face model's own code: pixels from
 * the image processor bit for bit (BridgeTower: shortest edge, size divisor, center crop with zero
 * padding; ViLT: each image at its own size), ids from the checkpoint's tokenizer exactly, the
 * stored token features within 1e-4 (BridgeTower: one layer per cross-modal layer), and the ITM
 * logits of every image x caption from {@code BridgeTowerForImageAndTextRetrieval.forward} /
 * {@code ViltForImageAndTextRetrieval.forward} within 1e-3 in both directions, from the Java
 * encoders' own outputs stored as fp32 blobs (ViLT's candidates of different sizes padded in one
 * call). Neither model has ITC: no vector, and a score that reads ITC is refused.
 */
class RerankOnlyImportsTest {

    private static final Path BUNDLES = Path.of("..", "encoder", "src", "test", "resources", "bundles").toAbsolutePath().normalize();
    private static final double FEATURE_TOLERANCE = 1e-4;
    private static final double ITM_TOLERANCE = 1e-3;

    @ParameterizedTest
    @ValueSource(strings = {"bridgetower-tiny", "vilt-tiny"})
    void theJavaRuntimeReproducesTheSourceModel(String model) throws Exception {
        ModelBundle bundle = ModelBundle.load(BUNDLES.resolve(model));
        assertFalse(bundle.hasEmbedding());
        ReferenceArrays reference = new ReferenceArrays(bundle.directory());
        ImagePreprocessor preprocessor = ImagePreprocessor.fromManifest(bundle.manifest().get("image"), ImagePreprocessor.Limits.DEFAULT);
        try (ImageEncoder imageEncoder = new ImageEncoder(bundle, preprocessor, InferenceOptions.cpu(1));
             TextTokenizer tokenizer = TextTokenizer.forBundle(bundle);
             TextEncoder textEncoder = new TextEncoder(bundle, tokenizer, InferenceOptions.cpu(1));
             FusionScorer scorer = new FusionScorer(bundle, InferenceOptions.cpu(1), 64)) {
            List<Path> files = reference.images();
            List<byte[]> bytes = new ArrayList<>();
            for (Path file : files) {
                bytes.add(Files.readAllBytes(file));
            }
            int layers = bundle.featureLayers();
            int width = bundle.featureWidth();
            double[] worst = new double[2]; // token features, ITM logits: reported, as the closing figures of the import

            // Pixels and stored image features, per image (ViLT's vary in size).
            List<Encoding> images = imageEncoder.encode(bytes);
            float[] fixedPixels = preprocessor.variableSize() ? null : reference.floats("pixels");
            float[] fixedFeatures = preprocessor.variableSize() ? null : reference.floats("image_token_features");
            for (int i = 0; i < files.size(); i++) {
                ImagePreprocessor.Pixels pixels = preprocessor.preprocessSized(bytes.get(i));
                float[] expectedPixels = fixedPixels == null ? reference.floats("pixels_" + i)
                    : Arrays.copyOfRange(fixedPixels, i * pixels.values().length, (i + 1) * pixels.values().length);
                assertArrayEquals(expectedPixels, pixels.values(), 0f, model + " pixels of " + files.get(i).getFileName());
                TokenFeatures features = images.get(i).tokenFeatures();
                assertNull(images.get(i).embedding(), "no ITC vector");
                int per = features.values().length;
                float[] expected = fixedFeatures == null ? reference.floats("image_token_features_" + i)
                    : Arrays.copyOfRange(fixedFeatures, i * per, (i + 1) * per);
                assertEquals(layers, features.layers());
                worst[0] = Math.max(worst[0], assertClose(expected, features.values(), FEATURE_TOLERANCE, model + " image " + i + " token features"));
            }
            if (preprocessor.variableSize()) {
                assertTrue(images.stream().mapToInt(e -> e.tokenFeatures().tokens()).distinct().count() > 1,
                    "ViLT's reference images must give different token counts, so candidates need padding");
            }

            // Ids and the caption features the captions store (layer-major, padding cut off).
            TextTokenizer.Batch batch = tokenizer.encodeBatch(reference.captions());
            assertArrayEquals(reference.longs("input_ids"), batch.ids(), model + " ids");
            List<Encoding> captions = textEncoder.encode(reference.captions());
            float[] textFeatures = reference.floats("text_token_features");
            int padded = batch.length();
            for (int c = 0; c < captions.size(); c++) {
                TokenFeatures f = captions.get(c).tokenFeatures();
                assertNull(captions.get(c).embedding(), "no ITC vector");
                for (int layer = 0; layer < layers; layer++) {
                    int from = ((c * layers + layer) * padded) * width;
                    float[] expected = Arrays.copyOfRange(textFeatures, from, from + f.tokens() * width);
                    float[] actual = Arrays.copyOfRange(f.values(), layer * f.tokens() * width, (layer + 1) * f.tokens() * width);
                    worst[0] = Math.max(worst[0], assertClose(expected, actual, FEATURE_TOLERANCE,
                        model + " caption " + c + " layer " + layer + " token features"));
                }
            }

            // ITM logits in both directions, candidates stored as fp32 blobs.
            float[] logits = reference.floats("itm_logits");
            int n = images.size();
            int m = captions.size();
            List<byte[]> imageBlobs = images.stream().map(e -> FeatureCodec.FP32.encode(e.tokenFeatures())).toList();
            List<byte[]> captionBlobs = captions.stream().map(e -> FeatureCodec.FP32.encode(e.tokenFeatures())).toList();
            for (int c = 0; c < m; c++) {
                float[] scores = scorer.scoreImages(captions.get(c), imageBlobs);
                for (int i = 0; i < n; i++) {
                    assertEquals(logits[(i * m + c) * 2 + 1], scores[i], ITM_TOLERANCE, model + " caption " + c + " -> image " + i);
                    worst[1] = Math.max(worst[1], Math.abs(logits[(i * m + c) * 2 + 1] - scores[i]));
                }
            }
            for (int i = 0; i < n; i++) {
                float[] scores = scorer.scoreTexts(images.get(i), captionBlobs);
                for (int c = 0; c < m; c++) {
                    assertEquals(logits[(i * m + c) * 2 + 1], scores[c], ITM_TOLERANCE, model + " image " + i + " -> caption " + c);
                    worst[1] = Math.max(worst[1], Math.abs(logits[(i * m + c) * 2 + 1] - scores[c]));
                }
            }

            System.out.printf(java.util.Locale.ROOT, "%s: Java vs source, max |token features| %.2g, max |ITM logit| %.2g%n",
                model, worst[0], worst[1]);

            RerankDefaults defaults = RerankDefaults.of(bundle);
            assertEquals(ScoreMode.ITM, defaults.mode());
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> defaults.formula(ScoreMode.ITM_PLUS_ITC, null, 1f, 1f));
            assertTrue(e.getMessage().startsWith("score_mode [itm_plus_itc] needs the model's ITC embedding"), e.getMessage());
            assertEquals(ScoreMode.BLEND, defaults.formula(ScoreMode.BLEND, null, 1f, 1f).mode());
        }
    }

    /** The largest difference, checked against {@code tolerance}. */
    private static double assertClose(float[] expected, float[] actual, double tolerance, String what) {
        assertEquals(expected.length, actual.length, what + " length");
        double diff = ReferenceArrays.maxAbsDiff(actual, 0, expected, 0, expected.length);
        assertTrue(diff <= tolerance, what + " differs by " + diff);
        return diff;
    }
}
