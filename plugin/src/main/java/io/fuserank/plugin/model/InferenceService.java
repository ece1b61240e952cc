package io.fuserank.plugin.model;

import io.fuserank.plugin.FuseRankSettings;
import org.elasticsearch.action.ActionListener;
import org.elasticsearch.common.util.concurrent.EsRejectedExecutionException;
import org.elasticsearch.threadpool.ThreadPool;

import java.util.concurrent.Executor;

/**
 * Runs model work on the plugin's own fixed inference pool ({@value FuseRankSettings#INFERENCE_POOL})
 * and answers an {@link ActionListener}: never on a transport or search thread, and with a
 * bounded queue, so that a flood of requests is rejected with 429 instead of queueing without
 * bound. Rejections and call latencies are counted on the model's {@link ModelStats}.
 */
public final class InferenceService {

    /** Model work that may throw anything; its result goes to the listener. */
    @FunctionalInterface
    public interface ModelTask<T> {
        T run(LoadedModel model) throws Exception;
    }

    private final ModelRegistry registry;
    private final Executor executor;

    public InferenceService(ModelRegistry registry, ThreadPool threadPool) {
        this(registry, threadPool.executor(FuseRankSettings.INFERENCE_POOL));
    }

    InferenceService(ModelRegistry registry, Executor executor) {
        this.registry = registry;
        this.executor = executor;
    }

    public ModelRegistry registry() {
        return registry;
    }

    /** Loads the model if needed, then runs {@code task} with it, all on the inference pool. */
    public <T> void run(String modelId, ModelTask<T> task, ActionListener<T> listener) {
        try {
            executor.execute(() -> {
                LoadedModel model;
                try {
                    model = registry.get(modelId);
                } catch (Exception e) {
                    listener.onFailure(e);
                    return;
                }
                T result;
                try {
                    result = timed(model, task);
                } catch (Exception e) {
                    listener.onFailure(e);
                    return;
                }
                listener.onResponse(result);
            });
        } catch (EsRejectedExecutionException e) {
            registry.ifLoaded(modelId).ifPresent(m -> m.stats().rejection());
            listener.onFailure(e);
        }
    }

    /** Runs {@code task} with {@code model} on this thread, counting it on the model's stats as a success with its latency or a failure. */
    static <T> T timed(LoadedModel model, ModelTask<T> task) throws Exception {
        long start = System.nanoTime();
        T result;
        try {
            result = task.run(model);
        } catch (Exception e) {
            model.stats().failure();
            throw e;
        }
        model.stats().success(System.nanoTime() - start);
        return result;
    }
}
