package io.fuserank.encoder;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.StreamSupport;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The imported tiny BLIP bundle ({@code bundles/blip-tiny}, made by {@code make-blip-tiny}) through
 * the Java runtime against the Hugging Face model's own outputs that the importer saved: the image
 * processor's tensors bit for bit from the reference PNG and JPEG files (PIL bicubic, rescale, CLIP
 * mean/std), the checkpoint tokenizer's ids exactly (no caption cleaning), the ITC vectors and the
 * image token features within 1e-4.
 */
class BlipBundleParityTest {

    private static final double TOLERANCE = 1e-4;

    private static BundleEncoders encoders;
    private static ModelBundle bundle;
    private static ReferenceArrays reference;
    private static ImagePreprocessor preprocessor;
    private static ImageEncoder images;
    private static TextEncoder texts;

    @BeforeAll
    static void open() throws Exception {
        encoders = BundleEncoders.open(FusionDeclarationTest.BLIP);
        bundle = encoders.bundle();
        reference = new ReferenceArrays(bundle.directory());
        preprocessor = encoders.preprocessor();
        images = encoders.images();
        texts = encoders.texts();
    }

    @AfterAll
    static void close() throws Exception {
        encoders.close();
    }

    @Test
    void theManifestNamesBlipsRules() {
        assertEquals(ResizeRule.PIL_BICUBIC, preprocessor.rule());
        assertEquals(new ImagePreprocessor.Decoding(false, false), preprocessor.decoding());
        assertEquals(TextRule.TOKENIZER_JSON, bundle.textRule());
        assertEquals(84, bundle.vocabSize());
    }

    @Test
    void pixelsEqualTheImageProcessorsBitForBit() throws Exception {
        float[] expected = reference.floats("pixels");
        int per = preprocessor.pixelsPerImage();
        List<java.nio.file.Path> files = reference.images();
        assertEquals(4, files.size());
        for (int i = 0; i < files.size(); i++) {
            float[] actual = preprocessor.preprocess(Files.readAllBytes(files.get(i)));
            assertArrayEquals(Arrays.copyOfRange(expected, i * per, (i + 1) * per), actual, 0f, files.get(i).toString());
        }
    }

    @Test
    void imageVectorsAndTokenFeaturesMatchTheSourceModel() throws Exception {
        List<byte[]> files = new ArrayList<>();
        for (var path : reference.images()) {
            files.add(Files.readAllBytes(path));
        }
        List<Encoding> out = images.encode(files);
        float[] embeddings = reference.floats("image_embedding");
        float[] features = reference.floats("image_token_features");
        int per = bundle.imageTokens() * bundle.featureWidth();
        for (int i = 0; i < out.size(); i++) {
            assertClose(out.get(i).embedding(), embeddings, i * bundle.embeddingDim(), "image " + i + " embedding");
            assertClose(out.get(i).tokenFeatures().values(), features, i * per, "image " + i + " token features");
        }
    }

    @Test
    void idsAndTextVectorsMatchTheSourceModel() throws Exception {
        TextTokenizer.Batch batch = texts.tokenizer().encodeBatch(reference.captions());
        assertArrayEquals(reference.longs("input_ids"), batch.ids());
        assertArrayEquals(reference.longs("attention_mask"), batch.mask());
        List<Encoding> out = texts.encode(reference.captions());
        float[] embeddings = reference.floats("text_embedding");
        int length = batch.length();
        for (int i = 0; i < out.size(); i++) {
            assertNull(out.get(i).tokenFeatures(), "BLIP's text encoder has no token_features output");
            assertArrayEquals(Arrays.copyOfRange(batch.ids(), i * length, i * length + batch.tokens(i)), out.get(i).tokenIds());
            assertClose(out.get(i).embedding(), embeddings, i * bundle.embeddingDim(), "caption " + i + " embedding");
        }
    }

    @Test
    void theTokenizerAloneGivesTheCheckpointTokenizersIds() throws Exception {
        JsonNode fixture = new ObjectMapper().readTree(bundle.directory().resolve("reference/tokenizer_fixture.json").toFile());
        assertEquals("tokenizer_json", fixture.path("preprocessing").asText());
        int cases = 0;
        try (TextTokenizer tokenizer = TextTokenizer.forBundle(bundle)) {
            for (JsonNode c : fixture.path("cases")) {
                String text = c.path("text").asText();
                if (text.isBlank()) {
                    continue; // refused as empty before tokenization
                }
                long[] expected = StreamSupport.stream(c.path("ids").spliterator(), false).mapToLong(JsonNode::asLong).toArray();
                assertArrayEquals(expected, tokenizer.encode(text), "ids of [" + text + "]");
                cases++;
            }
        }
        assertTrue(cases >= 6, "fixture has only " + cases + " cases");
    }

    private static void assertClose(float[] actual, float[] expected, int offset, String what) {
        double diff = ReferenceArrays.maxAbsDiff(actual, 0, expected, offset, actual.length);
        assertTrue(diff <= TOLERANCE, what + " differs by " + diff);
    }
}
