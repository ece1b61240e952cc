package io.fuserank.reranker;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import io.fuserank.encoder.FeatureCodec;
import io.fuserank.encoder.FeatureLayout;
import io.fuserank.encoder.InferenceOptions;
import io.fuserank.encoder.ModelBundle;
import io.fuserank.encoder.TokenFeatures;

import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Batched ITM scoring through the bundle's {@code fusion_itm.onnx}: one query's token features
 * against k candidates' stored blobs, all pairs in one ONNX call (ALBEF's rerank of the ITC top-k
 * with the fusion encoder's ITM head, arXiv 2107.07651; scored per pair in a loop there, batched
 * here because k single-pair calls waste most of the time on per-call overhead).
 *
 * <p>Both directions use the same graph, text tokens attending to image tokens: a text query
 * against image candidates, or an image query against caption candidates. Candidates with fewer
 * tokens than the longest in the batch (captions) are zero-padded and masked.
 *
 * <p>Stored blobs are untrusted. Every candidate's header is checked against the model's layout for
 * the candidates' modality ({@link ModelBundle#imageFeatures()}: exactly the manifest's image token
 * count; {@link ModelBundle#textFeatures()}: 1 to its maximum text tokens) before any buffer is
 * allocated, so buffers are sized from checked token counts only: at most {@code maxBatch x layers x
 * manifest tokens x width} values per ONNX call, whatever a header claims; above {@code maxBatch}
 * candidates the call is split. A candidate that fails the check or decoding, or whose ITM logit is
 * not finite, is answered with a {@link Rejection} (a blob that fits the other modality's layout is
 * {@link Rejection.Kind#WRONG_MODALITY}); the others are scored as if it were not there.
 *
 * <p>Thread-safe: one shared session, no mutable state.
 */
public final class FusionScorer implements AutoCloseable {

    /** The plugin's default {@code maxBatch} ({@code fuserank.rescore.max_batch}), which the CLI's client-side rerank uses too. */
    public static final int DEFAULT_MAX_BATCH = 128;

    private final OrtSession session;
    private final String model;
    private final FeatureLayout images;
    private final FeatureLayout texts;
    private final int maxBatch;

    public FusionScorer(ModelBundle bundle, InferenceOptions options, int maxBatch) throws OrtException {
        if (maxBatch < 1) {
            throw new IllegalArgumentException("maxBatch must be positive, got [" + maxBatch + "]");
        }
        this.model = bundle.name();
        this.images = bundle.imageFeatures();
        this.texts = bundle.textFeatures();
        this.maxBatch = maxBatch;
        this.session = options.open(bundle.graph("fusion_itm"));
    }

    public int maxBatch() {
        return maxBatch;
    }

    /** ITM scores (the match logit) of one text query against image candidates' blobs, or why each was not scored. */
    public CandidateScores scoreImageCandidates(TokenFeatures text, List<byte[]> imageBlobs) throws OrtException {
        checkQuery(text, Side.TEXT);
        return score(text, imageBlobs, Side.TEXT);
    }

    /** ITM scores of one image query against caption candidates' blobs, or why each was not scored. */
    public CandidateScores scoreTextCandidates(TokenFeatures image, List<byte[]> textBlobs) throws OrtException {
        checkQuery(image, Side.IMAGE);
        return score(image, textBlobs, Side.IMAGE);
    }

    /** {@link #scoreImageCandidates}, with the first candidate that cannot be scored thrown as a {@link CandidateException}. */
    public float[] scoreImages(TokenFeatures text, List<byte[]> imageBlobs) throws OrtException {
        return scoreImageCandidates(text, imageBlobs).orThrow();
    }

    /** {@link #scoreTextCandidates}, with the first candidate that cannot be scored thrown as a {@link CandidateException}. */
    public float[] scoreTexts(TokenFeatures image, List<byte[]> textBlobs) throws OrtException {
        return scoreTextCandidates(image, textBlobs).orThrow();
    }

    /** The modality of the query; the candidates have the other one. */
    private enum Side {
        TEXT("a text query", "caption", "image"),
        IMAGE("an image query", "image", "caption");

        final String query;
        final String self;
        final String other;

        Side(String query, String self, String other) {
            this.query = query;
            this.self = self;
            this.other = other;
        }
    }

    private FeatureLayout layout(Side side) {
        return side == Side.TEXT ? texts : images;
    }

    private FeatureLayout candidateLayout(Side query) {
        return query == Side.TEXT ? images : texts;
    }

    private CandidateScores score(TokenFeatures query, List<byte[]> blobs, Side side) throws OrtException {
        int n = blobs.size();
        float[] scores = new float[n];
        Rejection[] rejections = new Rejection[n];
        int[] tokens = new int[n];
        List<Integer> accepted = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            rejections[i] = check(blobs.get(i), side);
            if (rejections[i] == null) {
                tokens[i] = FeatureCodec.header(blobs.get(i)).tokens();
                accepted.add(i);
            }
        }
        for (int from = 0; from < accepted.size(); from += maxBatch) {
            scoreChunk(query, blobs, accepted.subList(from, Math.min(accepted.size(), from + maxBatch)), tokens, side, scores, rejections);
        }
        return new CandidateScores(scores, rejections);
    }

    /** Null if the blob's header fits the candidates' layout, else why not; reads the header only. */
    private Rejection check(byte[] blob, Side side) {
        FeatureCodec.Header h;
        try {
            h = FeatureCodec.header(blob);
        } catch (IllegalArgumentException e) {
            return Rejection.corrupt(e.getMessage());
        }
        FeatureLayout expected = candidateLayout(side);
        if (expected.fits(h)) {
            return null;
        }
        if (layout(side).fits(h)) {
            return new Rejection(Rejection.Kind.WRONG_MODALITY, String.format(Locale.ROOT,
                "%s token features (%d tokens); %s needs %s features %s of model [%s]", side.self, h.tokens(), side.query, side.other,
                expected, model));
        }
        return Rejection.corrupt(String.format(Locale.ROOT,
            "token-feature blob %s fits no layout of model [%s]: image features are %s, caption features %s", h.shape(), model, images,
            texts));
    }

    /**
     * Scores the {@code chunk} of checked candidates (at most {@code maxBatch}) in one call: each is
     * decoded into its row of the batch, a row that fails to decode is cleared and reused by the next.
     */
    private void scoreChunk(TokenFeatures query, List<byte[]> blobs, List<Integer> chunk, int[] tokens, Side side, float[] scores,
                            Rejection[] rejections) throws OrtException {
        FeatureLayout layout = candidateLayout(side);
        int maxTokens = chunk.stream().mapToInt(i -> tokens[i]).max().orElseThrow();
        int stride = layout.layers() * maxTokens * layout.width();
        float[] candidates = new float[chunk.size() * stride];
        long[] candidateMask = new long[chunk.size() * maxTokens];
        int[] rows = new int[chunk.size()];
        int n = 0;
        for (int i : chunk) {
            try {
                FeatureCodec.decodeInto(blobs.get(i), layout, candidates, n * stride, maxTokens);
            } catch (IllegalArgumentException e) {
                Arrays.fill(candidates, n * stride, (n + 1) * stride, 0f);
                rejections[i] = Rejection.corrupt(e.getMessage());
                continue;
            }
            Arrays.fill(candidateMask, n * maxTokens, n * maxTokens + tokens[i], 1L);
            rows[n++] = i;
        }
        if (n == 0) {
            return;
        }
        float[] logits = run(query, FloatBuffer.wrap(candidates, 0, n * stride), LongBuffer.wrap(candidateMask, 0, n * maxTokens), n,
            maxTokens, side);
        for (int k = 0; k < n; k++) {
            if (Float.isFinite(logits[k])) {
                scores[rows[k]] = logits[k];
            } else {
                rejections[rows[k]] = Rejection.corrupt("the fusion encoder's ITM logit for these token features is [" + logits[k]
                    + "], not a finite number");
            }
        }
    }

    /** The match logits of {@code n} candidates of {@code maxTokens} tokens per layer against the query. */
    private float[] run(TokenFeatures query, FloatBuffer candidates, LongBuffer candidateMask, int n, int maxTokens, Side side)
        throws OrtException {
        int layers = query.layers();
        int width = query.width();
        float[] repeated = repeat(query.values(), n);
        long[] queryMask = new long[n * query.tokens()];
        Arrays.fill(queryMask, 1L);
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        long[] queryShape = {n, (long) layers * query.tokens(), width};
        long[] candidateShape = {n, (long) layers * maxTokens, width};
        try (OnnxTensor q = OnnxTensor.createTensor(env, FloatBuffer.wrap(repeated), queryShape);
             OnnxTensor qMask = OnnxTensor.createTensor(env, LongBuffer.wrap(queryMask), new long[] {n, query.tokens()});
             OnnxTensor c = OnnxTensor.createTensor(env, candidates, candidateShape);
             OnnxTensor cMask = OnnxTensor.createTensor(env, candidateMask, new long[] {n, maxTokens});
             OrtSession.Result result = session.run(side == Side.TEXT
                 ? Map.of("text_features", q, "text_mask", qMask, "image_features", c, "image_mask", cMask)
                 : Map.of("text_features", c, "text_mask", cMask, "image_features", q, "image_mask", qMask))) {
            FloatBuffer logits = ((OnnxTensor) result.get("itm_logits").orElseThrow()).getFloatBuffer();
            float[] scores = new float[n];
            for (int i = 0; i < n; i++) {
                scores[i] = logits.get(2 * i + 1);
            }
            return scores;
        }
    }

    /** The query must have the model's layout for its modality (it comes from the model's own encoder). */
    private void checkQuery(TokenFeatures query, Side side) {
        FeatureLayout expected = layout(side);
        if (expected.fits(query.layers(), query.tokens(), query.width()) == false) {
            throw new IllegalArgumentException(String.format(Locale.ROOT,
                "%s has features [%d x %d x %d], model [%s] expects %s", side.query, query.layers(), query.tokens(), query.width(), model,
                expected));
        }
    }

    private static float[] repeat(float[] values, int times) {
        float[] out = new float[values.length * times];
        for (int i = 0; i < times; i++) {
            System.arraycopy(values, 0, out, i * values.length, values.length);
        }
        return out;
    }

    @Override
    public void close() throws OrtException {
        session.close();
    }
}
