package io.fuserank.plugin;

import io.fuserank.encoder.Precision;
import io.fuserank.plugin.model.ModelRoot;
import io.fuserank.reranker.FusionScorer;
import org.elasticsearch.common.breaker.CircuitBreaker;
import org.elasticsearch.common.settings.Setting;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.common.util.concurrent.EsExecutors;
import org.elasticsearch.env.Environment;
import org.elasticsearch.indices.breaker.BreakerSettings;
import org.elasticsearch.monitor.jvm.JvmInfo;

import java.nio.file.Path;
import java.util.List;

/**
 * The plugin's node settings (static: set in {@code elasticsearch.yml}, except the breaker's).
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
 *   <li>{@code breaker.fuserank.limit} / {@code breaker.fuserank.overhead}: the plugin's circuit breaker
 *       ({@value #BREAKER_NAME}), which accounts the heap that decoding an image takes (ingest, the
 *       {@code fuserank_image} query vector builder, {@code fuserank_itm} image queries) before the
 *       pixels are allocated. An image that would pass the limit fails with a 429
 *       {@code circuit_breaking_exception} (in a bulk request, that document alone). Default limit 25%
 *       of the heap, overhead 1 (the estimate is already an upper bound); both are Elasticsearch's
 *       own breaker settings, so they are also dynamic cluster settings; but Elasticsearch applies
 *       its generic breaker defaults to a dynamic update, not these: an update that leaves the
 *       overhead out sets it to 2, and removing the update sets the limit to 100% of the heap, so
 *       set both, and set them back explicitly. The parent breaker ({@code indices.breaker.total.limit}) counts
 *       these reservations too: on top of the heap in use (the default, real-memory parent) or of
 *       the other breakers' reservations.</li>
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
    public static final String BREAKER_NAME = "fuserank";
    /** The breaker's default limit, as a fraction of the heap. */
    static final double BREAKER_DEFAULT_HEAP_FRACTION = 0.25;

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
    /** The default: each model's graphs in the precision its manifest recommends ({@code precisions.default}). */
    public static final String MODEL_PRECISION = "model";
    /**
     * Which of each model's graphs the node runs: {@value #MODEL_PRECISION} (the manifest's
     * recommendation), or a {@link Precision} every model must have (a model without it fails to
     * load, naming the precisions it has).
     */
    public static final Setting<String> PRECISION = Setting.simpleString("fuserank.inference.precision", MODEL_PRECISION, value -> {
        if (value.equals(MODEL_PRECISION) == false) {
            try {
                Precision.fromLabel(value);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("[fuserank.inference.precision] is [" + value + "]; valid: [" + MODEL_PRECISION
                    + ", fp32, int8]", e);
            }
        }
    }, Setting.Property.NodeScope);

    /** {@link #PRECISION} as the inference options take it: null for each model's own. */
    public static Precision precision(Settings settings) {
        String value = PRECISION.get(settings);
        return value.equals(MODEL_PRECISION) ? null : Precision.fromLabel(value);
    }
    public static final Setting<Integer> MAX_RESCORE_WINDOW =
        Setting.intSetting("fuserank.rescore.max_window", 256, 1, 10_000, Setting.Property.NodeScope);
    public static final Setting<Integer> MAX_FUSION_BATCH =
        Setting.intSetting("fuserank.rescore.max_batch", FusionScorer.DEFAULT_MAX_BATCH, 1, 10_000, Setting.Property.NodeScope);
    public static final Setting<Integer> MAX_CONCURRENT_RESCORES = new Setting<>("fuserank.rescore.max_concurrent",
        s -> Integer.toString(EsExecutors.allocatedProcessors(s)), s -> Setting.parseInt(s, 1, 10_000, "fuserank.rescore.max_concurrent"),
        Setting.Property.NodeScope);
    public static final Setting<Integer> RESCORE_QUEUE_SIZE = new Setting<>("fuserank.rescore.queue_size",
        FuseRankSettings::halfTheProcessors, s -> Setting.parseInt(s, 0, 10_000, "fuserank.rescore.queue_size"),
        Setting.Property.NodeScope);

    private FuseRankSettings() {
    }

    public static List<Setting<?>> all() {
        return List.of(MODELS_PATH, INFERENCE_THREADS, INFERENCE_QUEUE_SIZE, INTRA_OP_THREADS, CUDA, PRECISION, MAX_RESCORE_WINDOW,
            MAX_FUSION_BATCH, MAX_CONCURRENT_RESCORES, RESCORE_QUEUE_SIZE);
    }

    private static String halfTheProcessors(Settings settings) {
        return Integer.toString(Math.max(1, EsExecutors.allocatedProcessors(settings) / 2));
    }

    /**
     * The {@value #BREAKER_NAME} breaker: transient (reservations end with the request), its limit
     * and overhead from {@code breaker.fuserank.*} when set.
     */
    public static BreakerSettings breaker(Settings settings) {
        long limit = (long) (BREAKER_DEFAULT_HEAP_FRACTION * JvmInfo.jvmInfo().getMem().getHeapMax().getBytes());
        return BreakerSettings.updateFromSettings(
            new BreakerSettings(BREAKER_NAME, limit, 1.0, CircuitBreaker.Type.MEMORY, CircuitBreaker.Durability.TRANSIENT), settings);
    }

    /** The configured models directory, relative paths resolved against the config directory. */
    public static Path modelsPath(Environment environment) {
        String configured = MODELS_PATH.get(environment.settings());
        Path config = environment.configDir();
        return configured.isEmpty() ? config.resolve("fuserank").resolve("models") : config.resolve(configured);
    }

    /**
     * Where the registry looks for models, in order: the configured models directory, shown
     * relative to the config directory (or as the setting's name when it lies outside it), then the
     * models bundled in the plugin, shown relative to the Elasticsearch home.
     */
    public static List<ModelRoot> modelRoots(Environment environment) {
        Path bundled = environment.pluginsDir().resolve("fuserank").resolve("models");
        return List.of(
            ModelRoot.relativeTo(modelsPath(environment), environment.configDir(), "", "<" + MODELS_PATH.getKey() + ">"),
            ModelRoot.relativeTo(bundled, environment.pluginsDir(), "plugins/", "<bundled>"));
    }
}
