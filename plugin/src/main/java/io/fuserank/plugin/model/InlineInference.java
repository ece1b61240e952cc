package io.fuserank.plugin.model;

import org.elasticsearch.ElasticsearchException;
import org.elasticsearch.common.util.concurrent.EsRejectedExecutionException;

import java.util.Locale;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Runs model work on the calling thread, at most {@code maxConcurrent} calls at a time on the node
 * with at most {@code queueSize} more callers waiting for a turn, and rejects a caller beyond that at
 * once with 429 ({@link EsRejectedExecutionException}) naming the two settings. Calls, failures,
 * latencies and rejections are counted on the model's {@link ModelStats}, as {@link InferenceService}
 * counts them.
 *
 * <p>This is for callers that must wait for the result anyway, such as the synchronous rescore
 * phase. Handing their work to the inference pool parks the calling thread for as long as the work
 * queues there, so a burst of such calls could hold every thread of the caller's pool; here a call
 * holds its thread while the model computes or while it waits for one of the few turns, and never
 * more than {@code maxConcurrent + queueSize} threads at once, so the rest of the caller's pool stays
 * free for unrelated work. The short queue lets one search's shards on this node take turns rather
 * than reject each other. A waiting caller runs its cancellation check every {@value #POLL_MILLIS} ms.
 * A model this node has not loaded yet is loaded by its first call, on the calling thread: a
 * one-time cost of about a second, inside the same bound, and no dearer than parking the thread on
 * another pool for that second.
 */
public final class InlineInference {

    static final long POLL_MILLIS = 50;

    private final ModelRegistry registry;
    private final String concurrencyKey;
    private final int maxConcurrent;
    private final String queueKey;
    private final int queueSize;
    private final Semaphore turns;
    private final AtomicInteger admitted = new AtomicInteger();

    /** The keys name the settings the two bounds come from, for the rejection's message. */
    public InlineInference(ModelRegistry registry, String concurrencyKey, int maxConcurrent, String queueKey, int queueSize) {
        if (maxConcurrent < 1 || queueSize < 0) {
            throw new IllegalArgumentException(String.format(Locale.ROOT, "[%s] must be at least 1 and [%s] at least 0, got [%d] and [%d]",
                concurrencyKey, queueKey, maxConcurrent, queueSize));
        }
        this.registry = registry;
        this.concurrencyKey = concurrencyKey;
        this.maxConcurrent = maxConcurrent;
        this.queueKey = queueKey;
        this.queueSize = queueSize;
        this.turns = new Semaphore(maxConcurrent, true);
    }

    /**
     * Runs {@code task} with the model on this thread once a turn is free, loading the model first if
     * needed; {@code checkCancellation} runs while the call waits for its turn and once more just
     * before the task, so a caller cancelled while it waited or while the model loaded stops there.
     *
     * @throws EsRejectedExecutionException when {@code maxConcurrent} calls run and {@code queueSize} wait already
     */
    public <T> T run(String modelId, Runnable checkCancellation, InferenceService.ModelTask<T> task) throws Exception {
        if (admitted.incrementAndGet() > maxConcurrent + queueSize) {
            admitted.decrementAndGet();
            registry.ifLoaded(modelId).ifPresent(model -> model.stats().rejection());
            throw new EsRejectedExecutionException(String.format(Locale.ROOT,
                "rejected a call to model [%s]: [%d] model calls run and [%d] wait on this node's search threads, the most that [%s] "
                    + "and [%s] allow", modelId, maxConcurrent, queueSize, concurrencyKey, queueKey));
        }
        try {
            awaitTurn(modelId, checkCancellation);
            try {
                LoadedModel model = registry.get(modelId);
                checkCancellation.run();
                return InferenceService.timed(model, task);
            } finally {
                turns.release();
            }
        } finally {
            admitted.decrementAndGet();
        }
    }

    private void awaitTurn(String modelId, Runnable checkCancellation) {
        try {
            while (turns.tryAcquire(POLL_MILLIS, TimeUnit.MILLISECONDS) == false) {
                checkCancellation.run();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new ElasticsearchException("interrupted while waiting to run model [" + modelId + "]", e);
        }
    }
}
