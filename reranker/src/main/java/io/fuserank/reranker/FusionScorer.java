package io.fuserank.reranker;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import io.fuserank.encoder.FeatureCodec;
import io.fuserank.encoder.InferenceOptions;
import io.fuserank.encoder.ModelBundle;
import io.fuserank.encoder.TokenFeatures;

import java.nio.FloatBuffer;
import java.nio.LongBuffer;
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
 * tokens than the longest in the batch (captions) are zero-padded and masked. Above
 * {@code maxBatch} pairs the candidates go in chunks of at most that many, so one huge window
 * cannot allocate without bound. The result has exactly one score per candidate, in order; a
 * candidate whose blob is missing, corrupt or from another model fails the call with a
 * {@link CandidateException} naming its position.
 *
 * <p>Thread-safe: one shared session, no mutable state.
 */
public final class FusionScorer implements AutoCloseable {

    private final OrtSession session;
    private final int layers;
    private final int width;
    private final int maxBatch;

    public FusionScorer(ModelBundle bundle, InferenceOptions options, int maxBatch) throws OrtException {
        if (maxBatch < 1) {
            throw new IllegalArgumentException("maxBatch must be positive, got [" + maxBatch + "]");
        }
        this.layers = bundle.featureLayers();
        this.width = bundle.featureWidth();
        this.maxBatch = maxBatch;
        this.session = options.open(bundle.graph("fusion_itm"));
    }

    public int maxBatch() {
        return maxBatch;
    }

    /** ITM scores (the match logit) of one text query against image candidates' blobs. */
    public float[] scoreImages(TokenFeatures text, List<byte[]> imageBlobs) throws OrtException {
        checkQuery(text, "text");
        return score(text, imageBlobs, true);
    }

    /** ITM scores of one image query against caption candidates' blobs. */
    public float[] scoreTexts(TokenFeatures image, List<byte[]> textBlobs) throws OrtException {
        checkQuery(image, "image");
        return score(image, textBlobs, false);
    }

    private float[] score(TokenFeatures query, List<byte[]> blobs, boolean queryIsText) throws OrtException {
        float[] scores = new float[blobs.size()];
        for (int from = 0; from < blobs.size(); from += maxBatch) {
            int to = Math.min(blobs.size(), from + maxBatch);
            float[] chunk = scoreChunk(query, blobs.subList(from, to), from, queryIsText);
            System.arraycopy(chunk, 0, scores, from, chunk.length);
        }
        return scores;
    }

    private float[] scoreChunk(TokenFeatures query, List<byte[]> blobs, int firstIndex, boolean queryIsText)
        throws OrtException {
        int n = blobs.size();
        int[] tokens = new int[n];
        int maxTokens = 0;
        for (int i = 0; i < n; i++) {
            try {
                FeatureCodec.Header h = FeatureCodec.header(blobs.get(i));
                if (h.layers() != layers || h.width() != width) {
                    throw new IllegalArgumentException(String.format(Locale.ROOT,
                        "blob has [%d] layers of width [%d], the model expects [%d] of width [%d]",
                        h.layers(), h.width(), layers, width));
                }
                tokens[i] = h.tokens();
            } catch (IllegalArgumentException e) {
                throw new CandidateException(firstIndex + i, e.getMessage(), e);
            }
            maxTokens = Math.max(maxTokens, tokens[i]);
        }
        float[] candidates = new float[n * layers * maxTokens * width];
        long[] candidateMask = new long[n * maxTokens];
        for (int i = 0; i < n; i++) {
            placeCandidate(blobs.get(i), tokens[i], maxTokens, candidates, i);
            Arrays.fill(candidateMask, i * maxTokens, i * maxTokens + tokens[i], 1L);
        }
        float[] repeated = repeat(query.values(), n);
        long[] queryMask = new long[n * query.tokens()];
        Arrays.fill(queryMask, 1L);

        OrtEnvironment env = OrtEnvironment.getEnvironment();
        long[] queryShape = {n, (long) layers * query.tokens(), width};
        long[] candidateShape = {n, (long) layers * maxTokens, width};
        try (OnnxTensor q = OnnxTensor.createTensor(env, FloatBuffer.wrap(repeated), queryShape);
             OnnxTensor qMask = OnnxTensor.createTensor(env, LongBuffer.wrap(queryMask), new long[] {n, query.tokens()});
             OnnxTensor c = OnnxTensor.createTensor(env, FloatBuffer.wrap(candidates), candidateShape);
             OnnxTensor cMask = OnnxTensor.createTensor(env, LongBuffer.wrap(candidateMask), new long[] {n, maxTokens});
             OrtSession.Result result = session.run(queryIsText
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

    /** Writes one candidate's [layers, tokens, width] into row {@code row}, padding each layer to maxTokens. */
    private void placeCandidate(byte[] blob, int tokens, int maxTokens, float[] out, int row) {
        int rowOffset = row * layers * maxTokens * width;
        if (tokens == maxTokens) {
            FeatureCodec.decodeInto(blob, layers, width, out, rowOffset);
            return;
        }
        TokenFeatures features = FeatureCodec.decode(blob);
        for (int layer = 0; layer < layers; layer++) {
            System.arraycopy(features.values(), layer * tokens * width, out,
                rowOffset + layer * maxTokens * width, tokens * width);
        }
    }

    private void checkQuery(TokenFeatures query, String side) {
        if (query.layers() != layers || query.width() != width) {
            throw new IllegalArgumentException(String.format(Locale.ROOT,
                "%s query has [%d] layers of width [%d], the model expects [%d] of width [%d]",
                side, query.layers(), query.width(), layers, width));
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
