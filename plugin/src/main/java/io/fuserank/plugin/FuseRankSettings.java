package io.fuserank.plugin;

import org.elasticsearch.common.settings.Setting;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.common.util.concurrent.EsExecutors;
import org.elasticsearch.env.Environment;

import java.nio.file.Path;
import java.util.List;

/**
 * The plugin's node settings (all static: set in {@code elasticsearch.yml}).
 * <ul>
 *   <li>{@code fuserank.models.path}: the models directory, one sub-directory per model id
 *       (default {@code <config>/fuserank/models}); the bundled default model is found even when
 *       it is not there;</li>
 *   <li>{@code fuserank.inference.threads} / {@code fuserank.inference.queue_size}: the plugin's
 *       own fixed inference pool; a full queue rejects with 429;</li>
 *   <li>{@code fuserank.inference.intra_op_threads}: ONNX Runtime threads per call (default 1:
 *       the pool supplies the parallelism, so calls do not oversubscribe the cores);</li>
 *   <li>{@code fuserank.inference.cuda}: use the CUDA execution provider where the GPU build and
 *       a GPU are present;</li>
 *   <li>{@code fuserank.rescore.max_window}: the largest rescore window accepted (default 256);</li>
 *   <li>{@code fuserank.rescore.max_batch}: candidates per fusion call (larger windows go in chunks);</li>
 *   <li>{@code fuserank.rescore.max_concurrent} / {@code fuserank.rescore.queue_size}: fusion calls
 *       running at once on the node, each on its search thread, and calls waiting for a turn (so one
 *       search's shards on a node take turns); one more is rejected with 429. Each call keeps one
 *       core busy (with the default intra-op threads), so the defaults, one call per allocated
 *       processor and half as many waiting (at least 1), keep the cores busy while holding at most
 *       1.5 threads per core: the search pool has one more than that, which stays free for searches
 *       that do not rescore ({@code benchmarks/results/rerank-isolation/}).</li>
 * </ul>
 */
public final class FuseRankSettings {

    public static final String INFERENCE_POOL = "fuserank_inference";

    public static final Setting<String> MODELS_PATH =
        Setting.simpleString("fuserank.models.path", Setting.Property.NodeScope);
    public static final Setting<Integer> INFERENCE_THREADS = new Setting<>("fuserank.inference.threads",
        s -> Integer.toString(Math.max(1, Math.min(4, EsExecutors.allocatedProcessors(s)))),
        s -> Setting.parseInt(s, 1, 256, "fuserank.inference.threads"), Setting.Property.NodeScope);
    public static final Setting<Integer> INFERENCE_QUEUE_SIZE =
        Setting.intSetting("fuserank.inference.queue_size", 64, 1, 100_000, Setting.Property.NodeScope);
    public static final Setting<Integer> INTRA_OP_THREADS =
        Setting.intSetting("fuserank.inference.intra_op_threads", 1, 0, 256, Setting.Property.NodeScope);
    public static final Setting<Boolean> CUDA = Setting.boolSetting("fuserank.inference.cuda", false, Setting.Property.NodeScope);
    public static final Setting<Integer> MAX_RESCORE_WINDOW =
        Setting.intSetting("fuserank.rescore.max_window", 256, 1, 10_000, Setting.Property.NodeScope);
    public static final Setting<Integer> MAX_FUSION_BATCH =
        Setting.intSetting("fuserank.rescore.max_batch", 128, 1, 10_000, Setting.Property.NodeScope);
    public static final Setting<Integer> MAX_CONCURRENT_RESCORES = new Setting<>("fuserank.rescore.max_concurrent",
        s -> Integer.toString(EsExecutors.allocatedProcessors(s)), s -> Setting.parseInt(s, 1, 10_000, "fuserank.rescore.max_concurrent"),
        Setting.Property.NodeScope);
    public static final Setting<Integer> RESCORE_QUEUE_SIZE = new Setting<>("fuserank.rescore.queue_size",
        FuseRankSettings::halfTheProcessors, s -> Setting.parseInt(s, 0, 10_000, "fuserank.rescore.queue_size"),
        Setting.Property.NodeScope);

    private FuseRankSettings() {
    }

    public static List<Setting<?>> all() {
        return List.of(MODELS_PATH, INFERENCE_THREADS, INFERENCE_QUEUE_SIZE, INTRA_OP_THREADS, CUDA, MAX_RESCORE_WINDOW,
            MAX_FUSION_BATCH, MAX_CONCURRENT_RESCORES, RESCORE_QUEUE_SIZE);
    }

    private static String halfTheProcessors(Settings settings) {
        return Integer.toString(Math.max(1, EsExecutors.allocatedProcessors(settings) / 2));
    }

    /** The configured models directory, relative paths resolved against the config directory. */
    public static Path modelsPath(Environment environment) {
        String configured = MODELS_PATH.get(environment.settings());
        Path config = environment.configDir();
        return configured.isEmpty() ? config.resolve("fuserank").resolve("models") : config.resolve(configured);
    }
}
