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
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The imported tiny BridgeTower checkpoint with ITC heads ({@code bundles/bridgetower-itc-tiny},
 * {@code make-bridgetower-itc-tiny}: the layout of {@code BridgeTower/bridgetower-large-itm-mlm-itc})
 * through the whole Java runtime, against what the importer saved from the Hugging Face models' own
 * code: the model has an ITC embedding, the Java encoders' vectors are within 1e-4 of
 * {@code BridgeTowerForContrastiveLearning.forward}'s {@code image_embeds} and {@code text_embeds},
 * the stored token features within 1e-4, and the ITM logits of every image x caption within 1e-3 of
 * {@code BridgeTowerForImageAndTextRetrieval.forward} in both directions, from the Java encoders'
 * own outputs stored as fp32 blobs. The bundle reranks by the ITM logit (BridgeTower's ITC top-k
 * then ITM), and a request may ask for ITM + ITC, which it could not of the ITC-less import.
 */
class BridgeTowerItcImportTest {

    private static final Path BUNDLE = Path.of("..", "encoder", "src", "test", "resources", "bundles", "bridgetower-itc-tiny")
        .toAbsolutePath()
        .normalize();
    private static final double EMBEDDING_TOLERANCE = 1e-4;
    private static final double FEATURE_TOLERANCE = 1e-4;
    private static final double ITM_TOLERANCE = 1e-3;

    @Test
    void theJavaRuntimeReproducesTheSourceModels() throws Exception {
        ModelBundle bundle = ModelBundle.load(BUNDLE);
        assertTrue(bundle.hasEmbedding());
        assertEquals(32, bundle.embeddingDim());
        assertEquals("dot_product", bundle.similarity());
        ReferenceArrays reference = new ReferenceArrays(bundle.directory());
        ImagePreprocessor preprocessor = ImagePreprocessor.fromManifest(bundle.manifest().get("image"), ImagePreprocessor.Limits.DEFAULT);
        try (ImageEncoder imageEncoder = new ImageEncoder(bundle, preprocessor, InferenceOptions.cpu(1));
             TextTokenizer tokenizer = TextTokenizer.forBundle(bundle);
             TextEncoder textEncoder = new TextEncoder(bundle, tokenizer, InferenceOptions.cpu(1));
             FusionScorer scorer = new FusionScorer(bundle, InferenceOptions.cpu(1), 64)) {
            List<byte[]> bytes = new ArrayList<>();
            for (Path file : reference.images()) {
                bytes.add(Files.readAllBytes(file));
            }
            int dim = bundle.embeddingDim();
            int layers = bundle.featureLayers();
            int width = bundle.featureWidth();
            double[] worst = new double[3]; // embeddings, token features, ITM logits: reported

            // Images: pixels bit for bit, the ITC vector and the stored token features.
            List<Encoding> images = imageEncoder.encode(bytes);
            float[] pixels = reference.floats("pixels");
            float[] imageEmbeddings = reference.floats("image_embedding");
            float[] imageFeatures = reference.floats("image_token_features");
            for (int i = 0; i < images.size(); i++) {
                float[] actualPixels = preprocessor.preprocessSized(bytes.get(i)).values();
                int n = actualPixels.length;
                assertArrayEquals(Arrays.copyOfRange(pixels, i * n, (i + 1) * n), actualPixels, 0f, "pixels of image " + i);
                float[] embedding = images.get(i).embedding();
                assertNotNull(embedding, "image " + i + " ITC vector");
                worst[0] = Math.max(worst[0], assertClose(Arrays.copyOfRange(imageEmbeddings, i * dim, (i + 1) * dim), embedding,
                    EMBEDDING_TOLERANCE, "image " + i + " embedding"));
                TokenFeatures features = images.get(i).tokenFeatures();
                int per = features.values().length;
                assertEquals(layers, features.layers());
                worst[1] = Math.max(worst[1], assertClose(Arrays.copyOfRange(imageFeatures, i * per, (i + 1) * per), features.values(),
                    FEATURE_TOLERANCE, "image " + i + " token features"));
            }

            // Captions: ids, the ITC vector and the token features a caption stores (layer-major, padding cut off).
            TextTokenizer.Batch batch = tokenizer.encodeBatch(reference.captions());
            assertArrayEquals(reference.longs("input_ids"), batch.ids(), "ids");
            List<Encoding> captions = textEncoder.encode(reference.captions());
            float[] textEmbeddings = reference.floats("text_embedding");
            float[] textFeatures = reference.floats("text_token_features");
            int padded = batch.length();
            for (int c = 0; c < captions.size(); c++) {
                float[] embedding = captions.get(c).embedding();
                assertNotNull(embedding, "caption " + c + " ITC vector");
                worst[0] = Math.max(worst[0], assertClose(Arrays.copyOfRange(textEmbeddings, c * dim, (c + 1) * dim), embedding,
                    EMBEDDING_TOLERANCE, "caption " + c + " embedding"));
                TokenFeatures f = captions.get(c).tokenFeatures();
                for (int layer = 0; layer < layers; layer++) {
                    int from = ((c * layers + layer) * padded) * width;
                    float[] expected = Arrays.copyOfRange(textFeatures, from, from + f.tokens() * width);
                    float[] actual = Arrays.copyOfRange(f.values(), layer * f.tokens() * width, (layer + 1) * f.tokens() * width);
                    worst[1] = Math.max(worst[1], assertClose(expected, actual, FEATURE_TOLERANCE,
                        "caption " + c + " layer " + layer + " token features"));
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
                    assertEquals(logits[(i * m + c) * 2 + 1], scores[i], ITM_TOLERANCE, "caption " + c + " -> image " + i);
                    worst[2] = Math.max(worst[2], Math.abs(logits[(i * m + c) * 2 + 1] - scores[i]));
                }
            }
            for (int i = 0; i < n; i++) {
                float[] scores = scorer.scoreTexts(images.get(i), captionBlobs);
                for (int c = 0; c < m; c++) {
                    assertEquals(logits[(i * m + c) * 2 + 1], scores[c], ITM_TOLERANCE, "image " + i + " -> caption " + c);
                    worst[2] = Math.max(worst[2], Math.abs(logits[(i * m + c) * 2 + 1] - scores[c]));
                }
            }

            System.out.printf(java.util.Locale.ROOT,
                "bridgetower-itc-tiny: Java vs source, max |embedding| %.2g, max |token features| %.2g, max |ITM logit| %.2g%n",
                worst[0], worst[1], worst[2]);

            // The defaults the manifest recommends: the ITM logit alone, and ITM + 1 x ITC where a request asks for it.
            RerankDefaults defaults = RerankDefaults.of(bundle);
            assertEquals(ScoreMode.ITM, defaults.mode());
            assertTrue(defaults.hasItc());
            ScoreFormula plus = defaults.formula(ScoreMode.ITM_PLUS_ITC, null, 1f, 1f);
            assertEquals(1f, plus.itcWeight());
            float itc = ScoreFormula.itc(captions.get(0).embedding(), images.get(0).embedding());
            assertEquals(logits[1] + itc, plus.raw(0f, logits[1], itc), 1e-6);
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
