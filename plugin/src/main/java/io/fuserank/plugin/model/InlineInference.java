package io.fuserank.plugin.model;

import org.elasticsearch.common.util.concurrent.EsRejectedExecutionException;

import java.util.Locale;
import java.util.concurrent.Semaphore;

/**
 * Runs model work on the calling thread, at most {@code maxConcurrent} calls at a time on the node,
 * and rejects a call beyond that at once with 429 ({@link EsRejectedExecutionException}) naming the
 * setting that bounds it. Calls, failures, latencies and rejections are counted on the model's
 * {@link ModelStats}, as {@link InferenceService} counts them.
 *
 * <p>This is for callers that must wait for the result anyway, such as the synchronous rescore
 * phase. Handing their work to the inference pool would park the calling thread while the work
 * waits in the pool's queue, so a burst of such calls could hold every thread of the caller's pool
 * idle; here each call holds its thread only while the model computes, and never more than
 * {@code maxConcurrent} threads at once, so the rest of the caller's pool stays free for unrelated
 * work. A model this node has not loaded yet is loaded by its first call, on the calling thread:
 * a one-time cost of about a second, under the same bound, and cheaper than parking the thread on
 * another pool for the same second.
 */
public final class InlineInference {

    private final ModelRegistry registry;
    private final String settingKey;
    private final int maxConcurrent;
    private final Semaphore permits;

    /** {@code settingKey} names the setting {@code maxConcurrent} comes from, for the rejection's message. */
    public InlineInference(ModelRegistry registry, String settingKey, int maxConcurrent) {
        if (maxConcurrent < 1) {
            throw new IllegalArgumentException("[" + settingKey + "] must be at least 1, got [" + maxConcurrent + "]");
        }
        this.registry = registry;
        this.settingKey = settingKey;
        this.maxConcurrent = maxConcurrent;
        this.permits = new Semaphore(maxConcurrent);
    }

    /**
     * Runs {@code task} with the model on this thread, loading the model first if needed;
     * {@code checkCancellation} runs once the call holds its permit and the model, just before the
     * task, so a caller cancelled while the model loaded stops there.
     *
     * @throws EsRejectedExecutionException when {@code maxConcurrent} calls are running already
     */
    public <T> T run(String modelId, Runnable checkCancellation, InferenceService.ModelTask<T> task) throws Exception {
        if (permits.tryAcquire() == false) {
            registry.ifLoaded(modelId).ifPresent(model -> model.stats().rejection());
            throw new EsRejectedExecutionException(String.format(Locale.ROOT,
                "rejected a call to model [%s]: [%d] model calls are running on this node's search threads, the most that [%s] allows",
                modelId, maxConcurrent, settingKey));
        }
        try {
            LoadedModel model = registry.get(modelId);
            checkCancellation.run();
            return InferenceService.timed(model, task);
        } finally {
            permits.release();
        }
    }
}
