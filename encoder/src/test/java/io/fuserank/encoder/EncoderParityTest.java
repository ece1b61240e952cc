package io.fuserank.encoder;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Java encoders reproduce the PyTorch reference outputs the shipped bundle carries: token ids
 * identical, embeddings within 1e-4 (cosine >= 0.9999), token features within 1e-4, from the
 * reference tensors and end to end from the reference PNG files and caption strings.
 */
class EncoderParityTest {

    private static final double EMBEDDING_TOLERANCE = 1e-4;

    private static BundleEncoders encoders;
    private static ModelBundle bundle;
    private static ReferenceArrays reference;
    private static ImageEncoder images;
    private static TextEncoder texts;

    @BeforeAll
    static void open() throws Exception {
        encoders = BundleEncoders.open(ModelBundleTest.SHIPPED);
        bundle = encoders.bundle();
        reference = new ReferenceArrays(bundle.directory());
        images = encoders.images();
        texts = encoders.texts();
    }

    @AfterAll
    static void close() throws Exception {
        encoders.close();
    }

    @Test
    void imageEncoderMatchesPyTorchFromTheReferencePixels() throws Exception {
        int n = reference.shape("pixels")[0];
        List<Encoding> out = images.encodePixels(reference.floats("pixels"), n);
        assertImagesMatch(out);
    }

    @Test
    void imageEncoderMatchesPyTorchFromThePngFiles() throws Exception {
        List<byte[]> files = new ArrayList<>();
        for (var path : reference.images()) {
            files.add(Files.readAllBytes(path));
        }
        assertImagesMatch(images.encode(files));
    }

    @Test
    void encodeEachFailsABadFileAloneAndMatchesTheBatchEncodingForTheRest() throws Exception {
        List<byte[]> files = new ArrayList<>();
        for (var path : reference.images()) {
            files.add(Files.readAllBytes(path));
        }
        List<Encoding> whole = images.encode(files);
        List<byte[]> mixed = new ArrayList<>(files);
        mixed.add(1, "not an image".getBytes(java.nio.charset.StandardCharsets.UTF_8));
        List<ImageEncoder.Outcome> outcomes = images.encodeEach(mixed);
        assertEquals(mixed.size(), outcomes.size());
        assertEquals(ImageDecodeException.Reason.UNSUPPORTED_FORMAT, outcomes.get(1).error().reason());
        for (int i = 0, j = 0; i < outcomes.size(); i++) {
            if (i == 1) {
                continue;
            }
            assertArrayEquals(whole.get(j++).embedding(), outcomes.get(i).encoding().embedding(), 1e-6f, "file " + i);
        }
    }

    @Test
    void encodeEachFailsABadTextAloneAndMatchesTheBatchEncodingForTheRest() throws Exception {
        List<Encoding> whole = texts.encode(reference.captions());
        List<String> mixed = new ArrayList<>(reference.captions());
        mixed.add(1, "");
        mixed.add(3, "x".repeat(TextTokenizer.DEFAULT_MAX_CHARS + 1));
        List<TextEncoder.Outcome> outcomes = texts.encodeEach(mixed);
        assertEquals(mixed.size(), outcomes.size());
        assertEquals("text is empty", outcomes.get(1).error().getMessage());
        assertTrue(outcomes.get(3).error().getMessage().contains("more than the limit [4096]"), outcomes.get(3).error().getMessage());
        for (int i = 0, j = 0; i < outcomes.size(); i++) {
            if (i == 1 || i == 3) {
                continue;
            }
            assertArrayEquals(whole.get(j++).embedding(), outcomes.get(i).encoding().embedding(), 1e-6f, "text " + i);
        }
    }

    @Test
    void tokenizerGivesTheReferenceIdsForTheReferenceCaptions() throws Exception {
        TextTokenizer.Batch batch = texts.tokenizer().encodeBatch(reference.captions());
        assertEquals(reference.shape("input_ids")[1], batch.length());
        assertArrayEquals(reference.longs("input_ids"), batch.ids());
        assertArrayEquals(reference.longs("attention_mask"), batch.mask());
    }

    @Test
    void textEncoderMatchesPyTorchAndDropsPadding() throws Exception {
        List<Encoding> out = texts.encode(reference.captions());
        float[] embeddings = reference.floats("text_embedding");
        float[] features = reference.floats("text_token_features");
        long[] mask = reference.longs("attention_mask");
        int length = reference.shape("input_ids")[1];
        int width = bundle.featureWidth();
        for (int i = 0; i < out.size(); i++) {
            Encoding e = out.get(i);
            assertEmbeddingMatches(e.embedding(), embeddings, i);
            int real = (int) Arrays.stream(mask, i * length, (i + 1) * length).sum();
            assertEquals(real, e.tokenFeatures().tokens(), "caption " + i + " keeps its real tokens only");
            double diff = ReferenceArrays.maxAbsDiff(e.tokenFeatures().values(), 0, features, i * length * width, real * width);
            assertTrue(diff <= EMBEDDING_TOLERANCE, "caption " + i + " token features differ by " + diff);
        }
    }

    @Test
    void badTextsAreClearErrors() {
        var empty = assertThrows(IllegalArgumentException.class, () -> texts.encode(""));
        assertEquals("text is empty", empty.getMessage());
        var punctuation = assertThrows(IllegalArgumentException.class, () -> texts.encode("?!..."));
        assertEquals("text [?!...] is empty after caption cleaning", punctuation.getMessage());
        var huge = assertThrows(IllegalArgumentException.class, () -> texts.encode("a".repeat(10_000)));
        assertEquals("text has [10000] characters, more than the limit [4096]", huge.getMessage());
    }

    @Test
    void aLongTextWithinTheLimitIsTruncatedToMaxTokens() throws Exception {
        String text = "a small red circle ".repeat(50);
        Encoding e = texts.encode(text);
        assertTrue(e.tokenFeatures().tokens() <= bundle.maxTextTokens());
    }

    private static void assertImagesMatch(List<Encoding> out) throws Exception {
        float[] embeddings = reference.floats("image_embedding");
        float[] features = reference.floats("image_token_features");
        int perImage = bundle.imageTokens() * bundle.featureWidth() * bundle.featureLayers();
        assertEquals(reference.shape("pixels")[0], out.size());
        for (int i = 0; i < out.size(); i++) {
            assertEmbeddingMatches(out.get(i).embedding(), embeddings, i);
            double diff = ReferenceArrays.maxAbsDiff(out.get(i).tokenFeatures().values(), 0, features, i * perImage, perImage);
            assertTrue(diff <= EMBEDDING_TOLERANCE, "image " + i + " token features differ by " + diff);
        }
    }

    private static void assertEmbeddingMatches(float[] actual, float[] expected, int row) {
        int dim = actual.length;
        double diff = ReferenceArrays.maxAbsDiff(actual, 0, expected, row * dim, dim);
        double cosine = ReferenceArrays.cosine(actual, expected, row * dim);
        assertTrue(diff <= EMBEDDING_TOLERANCE && cosine >= 0.9999,
            "row " + row + ": max abs diff " + diff + ", cosine " + cosine);
    }
}
