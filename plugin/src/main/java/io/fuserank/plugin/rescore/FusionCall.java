package io.fuserank.plugin.rescore;

import io.fuserank.encoder.Encoding;
import io.fuserank.plugin.FuseRankSettings;
import io.fuserank.plugin.model.InlineInference;
import io.fuserank.reranker.CandidateScores;
import org.elasticsearch.ElasticsearchException;

import java.util.List;

/**
 * Scores a window's candidates against the encoded query in one {@code FusionScorer} call, on the
 * calling search thread, through the node's {@link InlineInference}.
 *
 * <p>The rescore phase is synchronous: the search thread has to wait for the scores wherever they
 * are computed. Computing them here rather than on the inference pool means a rescore holds its
 * search thread only while the fusion encoder runs, never while it queues behind other rescores;
 * the bound ({@link FuseRankSettings#MAX_CONCURRENT_RESCORES} running,
 * {@link FuseRankSettings#RESCORE_QUEUE_SIZE} waiting) keeps the other search threads free for
 * unrelated searches, and a rescore beyond it fails at once with 429. The search's cancellation
 * check (task cancellation and the request's {@code timeout}) runs while the call waits for its turn
 * and once it holds the model; the call itself, one batched ONNX run, is not interruptible.
 */
final class FusionCall {

    private final InlineInference inference;
    private final String modelId;
    private final Encoding query;
    private final boolean queryIsText;

    FusionCall(InlineInference inference, String modelId, Encoding query, boolean queryIsText) {
        this.inference = inference;
        this.modelId = modelId;
        this.query = query;
        this.queryIsText = queryIsText;
    }

    /** One ITM logit, or the reason there is none, per blob, in order. */
    CandidateScores score(List<byte[]> blobs, Runnable checkCancellation) {
        try {
            return inference.run(modelId, checkCancellation,
                model -> queryIsText ? model.scorer().scoreImageCandidates(query, blobs) : model.scorer().scoreTextCandidates(query, blobs));
        } catch (RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new ElasticsearchException("ITM scoring with model [" + modelId + "] failed: " + e.getMessage(), e);
        }
    }
}
