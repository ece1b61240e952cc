package io.fuserank.plugin.rescore;

import io.fuserank.encoder.TokenFeatures;
import io.fuserank.plugin.model.InferenceService;
import io.fuserank.reranker.CandidateScores;
import org.elasticsearch.ElasticsearchException;
import org.elasticsearch.action.ActionListener;

import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Scores a window's candidates against the encoded query in one {@code FusionScorer} call on the
 * plugin's inference pool, and waits for it on the calling search thread.
 *
 * <p>The rescore phase is synchronous, so the search thread has to wait; it waits in slices of
 * {@value #POLL_MILLIS} ms and runs the search's cancellation check (task cancellation and the
 * request's {@code timeout}) between slices, so a cancelled or timed-out search stops waiting at
 * once. The inference pool's queue is bounded: when it is full the search fails with 429 instead of
 * queueing without bound.
 */
final class FusionCall {

    static final long POLL_MILLIS = 50;

    private final InferenceService inference;
    private final String modelId;
    private final TokenFeatures query;
    private final boolean queryIsText;

    FusionCall(InferenceService inference, String modelId, TokenFeatures query, boolean queryIsText) {
        this.inference = inference;
        this.modelId = modelId;
        this.query = query;
        this.queryIsText = queryIsText;
    }

    /** One ITM logit, or the reason there is none, per blob, in order. */
    CandidateScores score(List<byte[]> blobs, Runnable checkCancellation) {
        CompletableFuture<CandidateScores> result = new CompletableFuture<>();
        inference.run(modelId,
            model -> queryIsText ? model.scorer().scoreImageCandidates(query, blobs) : model.scorer().scoreTextCandidates(query, blobs),
            ActionListener.wrap(result::complete, result::completeExceptionally));
        while (true) {
            try {
                return result.get(POLL_MILLIS, TimeUnit.MILLISECONDS);
            } catch (TimeoutException e) {
                checkCancellation.run();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new ElasticsearchException("interrupted while waiting for the ITM scores of model [" + modelId + "]", e);
            } catch (ExecutionException e) {
                if (e.getCause() instanceof RuntimeException runtime) {
                    throw runtime;
                }
                if (e.getCause() instanceof Error error) {
                    throw error;
                }
                throw new ElasticsearchException("ITM scoring with model [" + modelId + "] failed: " + e.getCause().getMessage(),
                    e.getCause());
            }
        }
    }
}
