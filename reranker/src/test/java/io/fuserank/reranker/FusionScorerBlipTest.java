package io.fuserank.reranker;

import io.fuserank.encoder.Encoding;
import io.fuserank.encoder.FeatureCodec;
import io.fuserank.encoder.InferenceOptions;
import io.fuserank.encoder.ModelBundle;
import io.fuserank.encoder.ReferenceArrays;
import io.fuserank.encoder.TokenFeatures;
import io.fuserank.encoder.TokenIdsCodec;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * FusionScorer on the imported tiny BLIP bundle, whose ITM reads the text's ids and mask and the
 * image's token features: both directions against the Hugging Face forward's ITM logits
 * ({@code itm_logits} [image, caption, 2]) within 1e-4, with caption candidates stored as token-id
 * blobs of different lengths, chunked calls, and hostile blobs rejected one by one.
 */
class FusionScorerBlipTest {

    static final Path BLIP = Path.of("..", "encoder", "src", "test", "resources", "bundles", "blip-tiny").toAbsolutePath().normalize();
    private static final double ITM_TOLERANCE = 1e-4;

    private static ModelBundle bundle;
    private static FusionScorer scorer;
    private static List<TokenFeatures> images;
    private static List<long[]> captions;
    private static float[] logits;

    @BeforeAll
    static void load() throws Exception {
        bundle = ModelBundle.load(BLIP);
        scorer = new FusionScorer(bundle, InferenceOptions.cpu(1), 64);
        ReferenceArrays reference = new ReferenceArrays(BLIP);
        images = reference.tokenFeatures("image_token_features");
        long[] ids = reference.longs("input_ids");
        long[] mask = reference.longs("attention_mask");
        int length = reference.shape("input_ids")[1];
        captions = new ArrayList<>();
        for (int c = 0; c < reference.shape("input_ids")[0]; c++) {
            int real = (int) Arrays.stream(mask, c * length, (c + 1) * length).sum();
            captions.add(Arrays.copyOfRange(ids, c * length, c * length + real));
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

    private static List<byte[]> captionBlobs() {
        return captions.stream().map(ids -> TokenIdsCodec.encode(ids, bundle.tokenIdLimits())).toList();
    }

    @Test
    void textQueryFromItsIdsAgainstImageFeaturesMatchesTheSourceModel() throws Exception {
        List<byte[]> blobs = images.stream().map(FeatureCodec.FP32::encode).toList();
        for (int c = 0; c < captions.size(); c++) {
            float[] scores = scorer.scoreImages(new Encoding(null, null, captions.get(c)), blobs);
            for (int i = 0; i < images.size(); i++) {
                assertTrue(Math.abs(scores[i] - expected(i, c)) <= ITM_TOLERANCE, "caption " + c + " image " + i + ": " + scores[i]
                    + " vs " + expected(i, c));
            }
        }
    }

    @Test
    void imageQueryAgainstStoredCaptionIdsOfDifferentLengthsMatchesTheSourceModel() throws Exception {
        assertTrue(captions.stream().mapToInt(c -> c.length).distinct().count() > 1, "captions must need padding");
        for (int i = 0; i < images.size(); i++) {
            float[] scores = scorer.scoreTexts(new Encoding(null, images.get(i)), captionBlobs());
            for (int c = 0; c < captions.size(); c++) {
                assertTrue(Math.abs(scores[c] - expected(i, c)) <= ITM_TOLERANCE, "image " + i + " caption " + c + ": " + scores[c]
                    + " vs " + expected(i, c));
            }
        }
        try (FusionScorer small = new FusionScorer(bundle, InferenceOptions.cpu(1), 3)) {
            float[] chunked = small.scoreTexts(new Encoding(null, images.get(0)), captionBlobs());
            for (int c = 0; c < captions.size(); c++) {
                assertEquals(expected(0, c), chunked[c], ITM_TOLERANCE);
            }
        }
    }

    @Test
    void badCaptionBlobsAreRejectedAloneAndTheOthersKeepTheirScores() throws Exception {
        List<byte[]> blobs = new ArrayList<>(captionBlobs());
        byte[] outside = blobs.get(1).clone();
        outside[10] = 100; // id 100 >= vocabulary 84
        blobs.set(1, outside);
        blobs.set(2, FeatureCodec.FP32.encode(images.get(0)));
        blobs.add(Arrays.copyOf(blobs.get(0), 9));
        CandidateScores result = scorer.scoreTextCandidates(new Encoding(null, images.get(1)), blobs);
        assertEquals(expected(1, 0), result.score(0), ITM_TOLERANCE);
        assertEquals(expected(1, 3), result.score(3), ITM_TOLERANCE);
        assertEquals(Rejection.Kind.CORRUPT, result.rejection(1).kind());
        assertEquals("token id [100] at position [1] is outside the vocabulary [0, 84)", result.rejection(1).reason());
        assertEquals(Rejection.Kind.WRONG_MODALITY, result.rejection(2).kind());
        assertEquals("image token features (17 tokens); an image query needs caption ids [1..35 ids < 84] of model [blip-tiny]",
            result.rejection(2).reason());
        assertEquals(Rejection.Kind.CORRUPT, result.rejection(4).kind());
        assertTrue(result.rejection(4).reason().startsWith("token-id blob of ["), result.rejection(4).reason());
        CandidateScores reverse = scorer.scoreImageCandidates(new Encoding(null, null, captions.get(0)), captionBlobs());
        assertEquals("caption token ids (" + captions.get(0).length + " tokens); a text query needs image features [1 x 17 x 32] of "
            + "model [blip-tiny]", reverse.rejection(0).reason());
    }

    @Test
    void aQueryWithoutWhatTheModelReadsIsAClearError() {
        var e = assertThrows(IllegalArgumentException.class,
            () -> scorer.scoreImageCandidates(new TokenFeatures(1, 3, 32, new float[96]), List.of()));
        assertEquals("a text query has no token ids; model [blip-tiny] reads [query.token_ids]: pass the query's Encoding", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> scorer.scoreTexts(new Encoding(null, null, new long[] {2, 3}), List.of()));
        assertEquals("an image query has no token features; model [blip-tiny] reads [query.token_features]", e.getMessage());
    }
}
