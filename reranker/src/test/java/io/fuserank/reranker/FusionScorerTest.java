package io.fuserank.reranker;

import io.fuserank.encoder.FeatureCodec;
import io.fuserank.encoder.InferenceOptions;
import io.fuserank.encoder.ModelBundle;
import io.fuserank.encoder.ReferenceArrays;
import io.fuserank.encoder.TokenFeatures;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

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
        int imageTokens = bundle.imageTokens();
        float[] imageFeatures = reference.floats("image_token_features");
        images = new ArrayList<>();
        for (int i = 0; i < reference.shape("image_token_features")[0]; i++) {
            int per = imageTokens * width;
            images.add(new TokenFeatures(1, imageTokens, width, Arrays.copyOfRange(imageFeatures, i * per, (i + 1) * per)));
        }
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
    void aBrokenCandidateIsNamed() {
        List<byte[]> candidates = new ArrayList<>(blobs(images, FeatureCodec.FP16));
        candidates.set(2, Arrays.copyOf(candidates.get(2), 40));
        var e = assertThrows(CandidateException.class, () -> scorer.scoreImages(captions.get(0), candidates));
        assertEquals(2, e.candidate());
        assertTrue(e.getMessage().startsWith("candidate [2] cannot be scored: fp16 token-feature blob"), e.getMessage());
        candidates.set(2, null);
        assertEquals("candidate [2] cannot be scored: no token-feature blob",
            assertThrows(CandidateException.class, () -> scorer.scoreImages(captions.get(0), candidates)).getMessage());
        TokenFeatures narrow = new TokenFeatures(1, 3, 8, new float[24]);
        candidates.set(2, FeatureCodec.FP32.encode(narrow));
        assertEquals("candidate [2] cannot be scored: blob has [1] layers of width [8], the model expects [1] of width [192]",
            assertThrows(CandidateException.class, () -> scorer.scoreImages(captions.get(0), candidates)).getMessage());
        assertEquals("text query has [1] layers of width [8], the model expects [1] of width [192]",
            assertThrows(IllegalArgumentException.class, () -> scorer.scoreImages(narrow, List.of())).getMessage());
    }

    @Test
    void scoreModesCombineAsDocumented() {
        assertEquals(2f, ScoreMode.ITM.combine(2f, 0.5f, 9f, 9f));
        assertEquals(2.5f, ScoreMode.ITM_PLUS_ITC.combine(2f, 0.5f, 9f, 1f));
        assertEquals(4f, ScoreMode.ITM_PLUS_ITC.combine(2f, 0.5f, 9f, 4f));
        assertEquals(0.3f * 2f + 0.7f * 0.5f, ScoreMode.BLEND.combine(2f, 0.5f, 0.3f, 0.7f), 1e-6f);
        assertEquals(ScoreMode.ITM_PLUS_ITC, ScoreMode.fromLabel("itm_plus_itc"));
        assertEquals("unknown score mode [sum], valid: [itm, itm_plus_itc, blend]",
            assertThrows(IllegalArgumentException.class, () -> ScoreMode.fromLabel("sum")).getMessage());
    }
}
