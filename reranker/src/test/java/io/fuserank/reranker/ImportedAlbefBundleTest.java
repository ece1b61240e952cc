package io.fuserank.reranker;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
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
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * An ALBEF checkpoint imported by {@code scripts/import-model} ({@code encoder/training/importers/albef.py})
 * is served by today's runtime unchanged: the tiny bundle imported from ALBEF's own random-weight
 * checkpoint ({@code encoder/training/tools/albef_tiny_bundle.py}) loads with {@link ModelBundle},
 * and {@link ImagePreprocessor}, {@link TextTokenizer}, {@link ImageEncoder}, {@link TextEncoder} and
 * {@link FusionScorer} reproduce the source forward's reference outputs: token ids exactly, ITC
 * vectors, token features and ITM logits within 1e-4.
 */
class ImportedAlbefBundleTest {

    static final Path BUNDLE = Path.of("..", "encoder", "src", "test", "resources", "bundles", "albef-tiny")
        .toAbsolutePath().normalize();
    private static final double TOLERANCE = 1e-4;

    private static ModelBundle bundle;
    private static ReferenceArrays reference;
    private static ImageEncoder images;
    private static TextEncoder texts;
    private static FusionScorer scorer;

    @BeforeAll
    static void open() throws Exception {
        bundle = ModelBundle.load(BUNDLE);
        reference = new ReferenceArrays(BUNDLE);
        images = new ImageEncoder(bundle, ImagePreprocessor.fromManifest(bundle.manifest().get("image"),
            ImagePreprocessor.Limits.DEFAULT), InferenceOptions.cpu(1));
        texts = new TextEncoder(bundle, TextTokenizer.forBundle(bundle), InferenceOptions.cpu(1));
        scorer = new FusionScorer(bundle, InferenceOptions.cpu(1), FusionScorer.DEFAULT_MAX_BATCH);
    }

    @AfterAll
    static void close() throws Exception {
        scorer.close();
        images.close();
        texts.tokenizer().close();
        texts.close();
    }

    @Test
    void manifestIsAnAlbefImportRankedByTheItmLogit() {
        JsonNode manifest = bundle.manifest();
        assertEquals("albef", manifest.path("model").path("family").asText());
        assertEquals(ScoreMode.ITM, ScoreMode.fromLabel(manifest.path("rerank").path("score_mode").asText()));
        assertEquals(17, bundle.imageTokens());
        assertEquals(32, bundle.featureWidth());
        assertEquals(30, bundle.maxTextTokens());
    }

    @Test
    void preprocessingGivesTheReferencePixelsFromThePngFiles() throws Exception {
        float[] expected = reference.floats("pixels");
        int per = images.pixelsPerImage();
        List<Path> files = reference.images();
        for (int i = 0; i < files.size(); i++) {
            if (files.get(i).toString().endsWith(".png")) {  // JPEG decoders may differ by a level (ImagePreprocessor)
                float[] pixels = images.preprocessor().preprocess(Files.readAllBytes(files.get(i)));
                assertArrayEquals(java.util.Arrays.copyOfRange(expected, i * per, (i + 1) * per), pixels, "image " + files.get(i));
            }
        }
    }

    @Test
    void imageEncoderMatchesTheSourceForward() throws Exception {
        int n = reference.shape("pixels")[0];
        List<Encoding> out = images.encodePixels(reference.floats("pixels"), n);
        float[] embeddings = reference.floats("image_embedding");
        float[] features = reference.floats("image_token_features");
        int dim = bundle.embeddingDim();
        int per = bundle.imageTokens() * bundle.featureWidth();
        for (int i = 0; i < n; i++) {
            assertClose(out.get(i).embedding(), embeddings, i * dim, "image " + i + " embedding");
            assertClose(out.get(i).tokenFeatures().values(), features, i * per, "image " + i + " token features");
        }
    }

    @Test
    void tokenizerGivesTheSourceIds() throws Exception {
        TextTokenizer.Batch batch = texts.tokenizer().encodeBatch(reference.captions());
        assertEquals(reference.shape("input_ids")[1], batch.length());
        assertArrayEquals(reference.longs("input_ids"), batch.ids());
        assertArrayEquals(reference.longs("attention_mask"), batch.mask());
        JsonNode fixture = new ObjectMapper().readTree(BUNDLE.resolve("reference/tokenizer_fixture.json").toFile());
        assertEquals(10, fixture.path("cases").size());
        for (JsonNode c : fixture.path("cases")) {
            String text = c.path("text").asText();
            assertEquals(c.path("clean").asText(), texts.tokenizer().clean(text), text);
            long[] ids = new long[c.path("clean_ids").size()];
            for (int i = 0; i < ids.length; i++) {
                ids[i] = c.path("clean_ids").get(i).asLong();
            }
            if (c.path("clean").asText().isBlank() == false) {
                assertArrayEquals(ids, texts.tokenizer().encode(text), text);
            }
        }
    }

    @Test
    void textEncoderMatchesTheSourceForward() throws Exception {
        List<Encoding> out = texts.encode(reference.captions());
        float[] embeddings = reference.floats("text_embedding");
        float[] features = reference.floats("text_token_features");
        int length = reference.shape("input_ids")[1];
        int width = bundle.featureWidth();
        for (int c = 0; c < out.size(); c++) {
            assertClose(out.get(c).embedding(), embeddings, c * bundle.embeddingDim(), "caption " + c + " embedding");
            assertClose(out.get(c).tokenFeatures().values(), features, c * length * width, "caption " + c + " token features");
        }
    }

    @Test
    void fusionScorerGivesTheSourceItmLogitsInBothDirections() throws Exception {
        List<TokenFeatures> imageFeatures = images.encodePixels(reference.floats("pixels"), reference.shape("pixels")[0]).stream()
            .map(Encoding::tokenFeatures).toList();
        List<TokenFeatures> captionFeatures = texts.encode(reference.captions()).stream().map(Encoding::tokenFeatures).toList();
        float[] logits = reference.floats("itm_logits");
        int captions = captionFeatures.size();
        List<byte[]> imageBlobs = imageFeatures.stream().map(FeatureCodec.FP32::encode).toList();
        List<byte[]> captionBlobs = captionFeatures.stream().map(FeatureCodec.FP32::encode).toList();
        for (int c = 0; c < captions; c++) {
            float[] scores = scorer.scoreImages(captionFeatures.get(c), imageBlobs);
            for (int i = 0; i < scores.length; i++) {
                float expected = logits[(i * captions + c) * 2 + 1];
                assertEquals(expected, scores[i], TOLERANCE, "text -> image: caption " + c + " image " + i);
            }
        }
        for (int i = 0; i < imageFeatures.size(); i++) {
            float[] scores = scorer.scoreTexts(imageFeatures.get(i), captionBlobs);
            for (int c = 0; c < captions; c++) {
                assertEquals(logits[(i * captions + c) * 2 + 1], scores[c], TOLERANCE, "image -> text: image " + i + " caption " + c);
            }
        }
    }

    private static void assertClose(float[] actual, float[] expected, int offset, String what) {
        double diff = ReferenceArrays.maxAbsDiff(actual, 0, expected, offset, actual.length);
        assertTrue(diff <= TOLERANCE, what + " differs by " + diff);
    }
}
