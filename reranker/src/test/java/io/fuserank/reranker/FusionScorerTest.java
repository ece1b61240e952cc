package io.fuserank.reranker;

import io.fuserank.encoder.FeatureCodec;
import io.fuserank.encoder.InferenceOptions;
import io.fuserank.encoder.ModelBundle;
import io.fuserank.encoder.ReferenceArrays;
import io.fuserank.encoder.TokenFeatures;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * FusionScorer against the PyTorch ITM logits the shipped bundle carries ({@code itm_logits}
 * [image, caption, 2]), in both directions, with padding, chunking and broken candidates.
 */
class FusionScorerTest {

    static final Path SHIPPED = Path.of("..", "models", "fuserank-small").toAbsolutePath().normalize();
    private static final double ITM_TOLERANCE = 1e-3;

    private static ModelBundle bundle;
    private static FusionScorer scorer;
    private static List<TokenFeatures> images;
    private static List<TokenFeatures> captions;
    private static float[] logits;

    @BeforeAll
    static void load() throws Exception {
        bundle = ModelBundle.load(SHIPPED);
        scorer = new FusionScorer(bundle, InferenceOptions.cpu(1), 64);
        ReferenceArrays reference = new ReferenceArrays(SHIPPED);
        int width = bundle.featureWidth();
        images = reference.tokenFeatures("image_token_features");
        float[] textFeatures = reference.floats("text_token_features");
        long[] mask = reference.longs("attention_mask");
        int length = reference.shape("attention_mask")[1];
        captions = new ArrayList<>();
        for (int c = 0; c < reference.shape("attention_mask")[0]; c++) {
            int real = (int) Arrays.stream(mask, c * length, (c + 1) * length).sum();
            int from = c * length * width;
            captions.add(new TokenFeatures(1, real, width, Arrays.copyOfRange(textFeatures, from, from + real * width)));
        }
        logits = reference.floats("itm_logits");
    }

    @AfterAll
    static void close() throws Exception {
        scorer.close();
    }

    private static float expected(int image, int caption) {
        return logits[(image * captions.size() + caption) * 2 + 1];
    }

    private static List<byte[]> blobs(List<TokenFeatures> features, FeatureCodec codec) {
        return features.stream().map(codec::encode).toList();
    }

    @Test
    void textQueryAgainstImageCandidatesMatchesPyTorch() throws Exception {
        for (int c = 0; c < captions.size(); c++) {
            float[] scores = scorer.scoreImages(captions.get(c), blobs(images, FeatureCodec.FP32));
            assertEquals(images.size(), scores.length);
            for (int i = 0; i < images.size(); i++) {
                assertTrue(Math.abs(scores[i] - expected(i, c)) <= ITM_TOLERANCE,
                    "caption " + c + " image " + i + ": " + scores[i] + " vs " + expected(i, c));
            }
        }
    }

    @Test
    void imageQueryAgainstCaptionsOfDifferentLengthsMatchesPyTorch() throws Exception {
        assertTrue(captions.stream().mapToInt(TokenFeatures::tokens).distinct().count() > 1, "captions must need padding");
        for (int i = 0; i < images.size(); i++) {
            float[] scores = scorer.scoreTexts(images.get(i), blobs(captions, FeatureCodec.FP32));
            for (int c = 0; c < captions.size(); c++) {
                assertTrue(Math.abs(scores[c] - expected(i, c)) <= ITM_TOLERANCE,
                    "image " + i + " caption " + c + ": " + scores[c] + " vs " + expected(i, c));
            }
        }
    }

    @Test
    void chunkingGivesTheSameScoresInOrder() throws Exception {
        List<byte[]> candidates = new ArrayList<>();
        for (int r = 0; r < 3; r++) {
            candidates.addAll(blobs(images, FeatureCodec.INT8));
        }
        float[] whole = scorer.scoreImages(captions.get(0), candidates);
        try (FusionScorer small = new FusionScorer(bundle, InferenceOptions.cpu(1), 5)) {
            float[] chunked = small.scoreImages(captions.get(0), candidates);
            assertArrayEquals(whole, chunked, 1e-4f);
        }
        for (int i = 0; i < candidates.size(); i++) {
            assertEquals(whole[i % images.size()], whole[i], 1e-4f, "repeated candidate " + i);
        }
        assertEquals(0, scorer.scoreImages(captions.get(0), List.of()).length);
    }

    @Test
    void int8BlobsMoveTheItmScoreLittle() throws Exception {
        float[] fp32 = scorer.scoreImages(captions.get(1), blobs(images, FeatureCodec.FP32));
        float[] int8 = scorer.scoreImages(captions.get(1), blobs(images, FeatureCodec.INT8));
        assertArrayEquals(fp32, int8, 0.05f);
    }

    @Test
    void theStrictFormThrowsTheFirstBrokenCandidate() {
        List<byte[]> candidates = new ArrayList<>(blobs(images, FeatureCodec.FP16));
        candidates.set(2, Arrays.copyOf(candidates.get(2), 40));
        var e = assertThrows(CandidateException.class, () -> scorer.scoreImages(captions.get(0), candidates));
        assertEquals(2, e.candidate());
        assertEquals(Rejection.Kind.CORRUPT, e.rejection().kind());
        assertTrue(e.getMessage().startsWith("candidate [2] cannot be scored: fp16 token-feature blob"), e.getMessage());
        candidates.set(2, null);
        assertEquals("candidate [2] cannot be scored: no token-feature blob",
            assertThrows(CandidateException.class, () -> scorer.scoreImages(captions.get(0), candidates)).getMessage());
        TokenFeatures narrow = new TokenFeatures(1, 3, 8, new float[24]);
        assertEquals("a text query has features [1 x 3 x 8], model [fuserank-small] expects [1 x 1..32 x 192]",
            assertThrows(IllegalArgumentException.class, () -> scorer.scoreImages(narrow, List.of())).getMessage());
    }

    /**
     * Every kind of bad blob among good ones: the good ones get the scores they get alone, each bad
     * one a rejection saying why, nothing throws. One header claims 65,535 tokens with a consistent
     * length (12.8 MB): were it padded to, the batch would need ~3 GB; it is rejected from its header.
     */
    @Test
    void badCandidatesAreRejectedAndTheGoodOnesKeepTheirScores() throws Exception {
        List<byte[]> good = blobs(images, FeatureCodec.INT8);
        float[] alone = scorer.scoreImages(captions.get(0), good);
        Map<String, byte[]> bad = badImageBlobs(good.get(0));
        List<byte[]> mixed = new ArrayList<>();
        int goodIndex = 0;
        for (byte[] blob : bad.values()) {
            mixed.add(good.get(goodIndex++ % good.size()));
            mixed.add(blob);
        }
        for (FusionScorer s : List.of(scorer, new FusionScorer(bundle, InferenceOptions.cpu(1), 3))) {
            CandidateScores result = s.scoreImageCandidates(captions.get(0), mixed);
            assertEquals(mixed.size(), result.size());
            assertEquals(bad.size(), result.rejected());
            int b = 0;
            for (Map.Entry<String, byte[]> kind : bad.entrySet()) {
                int pair = 2 * b;
                assertTrue(result.isScored(pair), kind.getKey() + ": " + result.rejection(pair));
                assertEquals(alone[b % good.size()], result.score(pair), 1e-5f, "good candidate beside " + kind.getKey());
                Rejection rejection = result.rejection(pair + 1);
                assertTrue(rejection != null, kind.getKey());
                assertEquals(kind.getKey().equals("caption") ? Rejection.Kind.WRONG_MODALITY : Rejection.Kind.CORRUPT, rejection.kind(),
                    kind.getKey());
                b++;
            }
            if (s != scorer) {
                s.close();
            }
        }
        CandidateScores result = scorer.scoreImageCandidates(captions.get(0), mixed);
        List<String> reasons = new ArrayList<>();
        for (int i = 1; i < mixed.size(); i += 2) {
            reasons.add(result.rejection(i).reason());
        }
        assertEquals(List.of(
            "token-feature blob starts with [58 52], not the magic \"FR\"",
            "token-feature blob has format version [2], this code reads [1]",
            "token-feature blob has unknown codec id [3]",
            "int8 token-feature blob [1 x 65 x 192] must have [12750] bytes, has [12749]",
            "token-feature blob [1 x 65 x 256] fits no layout of model [fuserank-small]: image features are [1 x 65 x 192], "
                + "caption features [1 x 1..32 x 192]",
            "token-feature blob [2 x 65 x 192] fits no layout of model [fuserank-small]: image features are [1 x 65 x 192], "
                + "caption features [1 x 1..32 x 192]",
            "token-feature blob [1 x 65535 x 192] fits no layout of model [fuserank-small]: image features are [1 x 65 x 192], "
                + "caption features [1 x 1..32 x 192]",
            "fp32 token-feature blob [255 x 65535 x 65535] must have [4380732949510] bytes, has [10]",
            "caption token features (" + captions.get(0).tokens() + " tokens); a text query needs image features [1 x 65 x 192] "
                + "of model [fuserank-small]",
            "fp32 token-feature blob has value [NaN] at layer [0] token [0] channel [0]; values must be finite",
            "int8 token-feature blob has scale [Infinity] at layer [0] token [0]; a scale must be finite and >= 0",
            "the fusion encoder's ITM logit for these token features is [NaN], not a finite number"), reasons);
    }

    /** Blobs that must not be scored as images, by what is wrong with them, built from a good int8 image blob. */
    private static Map<String, byte[]> badImageBlobs(byte[] good) {
        Map<String, byte[]> bad = new LinkedHashMap<>();
        bad.put("magic", edit(good, b -> b.put(0, (byte) 'X')));
        bad.put("version", edit(good, b -> b.put(2, (byte) 2)));
        bad.put("codec", edit(good, b -> b.put(3, (byte) 3)));
        bad.put("truncated", Arrays.copyOf(good, good.length - 1));
        bad.put("width", FeatureCodec.INT8.encode(new TokenFeatures(1, 65, 256, new float[65 * 256])));
        bad.put("layers", FeatureCodec.INT8.encode(new TokenFeatures(2, 65, 192, new float[2 * 65 * 192])));
        byte[] manyTokens = new byte[FeatureCodec.HEADER_BYTES + 65535 * (4 + 192)];
        System.arraycopy(good, 0, manyTokens, 0, FeatureCodec.HEADER_BYTES);
        bad.put("65535 tokens", edit(manyTokens, b -> b.putShort(6, (short) 65535)));
        bad.put("overflowing header", edit(Arrays.copyOf(good, FeatureCodec.HEADER_BYTES),
            b -> b.put(3, (byte) 0).put(4, (byte) 255).putShort(6, (short) 65535).putShort(8, (short) 65535)));
        bad.put("caption", FeatureCodec.INT8.encode(captions.get(0)));
        byte[] nan = FeatureCodec.FP32.encode(images.get(1));
        bad.put("NaN", edit(nan, b -> b.putFloat(FeatureCodec.HEADER_BYTES, Float.NaN)));
        bad.put("infinite scale", edit(good, b -> b.putFloat(FeatureCodec.HEADER_BYTES, Float.POSITIVE_INFINITY)));
        float[] huge = new float[65 * 192];
        Arrays.fill(huge, Float.MAX_VALUE);
        bad.put("non-finite logit", FeatureCodec.FP32.encode(new TokenFeatures(1, 65, 192, huge)));
        return bad;
    }

    private static byte[] edit(byte[] blob, java.util.function.Consumer<ByteBuffer> change) {
        byte[] copy = blob.clone();
        change.accept(ByteBuffer.wrap(copy).order(ByteOrder.LITTLE_ENDIAN));
        return copy;
    }

    @Test
    void theOtherModalityIsAWrongModalityRejection() throws Exception {
        CandidateScores result = scorer.scoreTextCandidates(images.get(0),
            List.of(FeatureCodec.FP16.encode(images.get(1)), FeatureCodec.FP16.encode(captions.get(0))));
        assertEquals(Rejection.Kind.WRONG_MODALITY, result.rejection(0).kind());
        assertEquals("image token features (65 tokens); an image query needs caption features [1 x 1..32 x 192] of model [fuserank-small]",
            result.rejection(0).reason());
        assertTrue(result.isScored(1));
        assertEquals(expected(0, 0), result.score(1), 0.05);
        assertEquals("candidate [0] was not scored: " + result.rejection(0).reason(),
            assertThrows(IllegalStateException.class, () -> result.score(0)).getMessage());
    }
}
