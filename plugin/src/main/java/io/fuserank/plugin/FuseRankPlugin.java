package io.fuserank.plugin;

import io.fuserank.encoder.InferenceOptions;
import io.fuserank.encoder.NativeRuntimeCheck;
import io.fuserank.plugin.action.EncodeAction;
import io.fuserank.plugin.action.ModelsAction;
import io.fuserank.plugin.action.QueryEncodingCache;
import io.fuserank.plugin.action.TransportEncodeAction;
import io.fuserank.plugin.action.TransportModelsAction;
import io.fuserank.plugin.ingest.FuseRankProcessor;
import io.fuserank.plugin.ingest.FuseRankProcessorFactory;
import io.fuserank.plugin.model.BreakerMemoryBudget;
import io.fuserank.plugin.model.InferenceService;
import io.fuserank.plugin.model.InlineInference;
import io.fuserank.plugin.model.ModelRegistry;
import io.fuserank.plugin.query.ImageQueryVectorBuilder;
import io.fuserank.plugin.query.TextQueryVectorBuilder;
import io.fuserank.plugin.rescore.ItmRescorerBuilder;
import io.fuserank.plugin.rescore.ItmServices;
import io.fuserank.plugin.rescore.RescoredWindows;
import io.fuserank.plugin.rest.RestModelsAction;
import org.apache.lucene.util.SetOnce;
import org.elasticsearch.cluster.node.DiscoveryNodes;
import org.elasticsearch.common.breaker.CircuitBreaker;
import org.elasticsearch.common.settings.Setting;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.common.util.concurrent.EsExecutors;
import org.elasticsearch.core.IOUtils;
import org.elasticsearch.core.TimeValue;
import org.elasticsearch.features.NodeFeature;
import org.elasticsearch.indices.breaker.BreakerSettings;
import org.elasticsearch.ingest.Processor;
import org.elasticsearch.logging.LogManager;
import org.elasticsearch.logging.Logger;
import org.elasticsearch.plugins.ActionPlugin;
import org.elasticsearch.plugins.CircuitBreakerPlugin;
import org.elasticsearch.plugins.IngestPlugin;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.plugins.SearchPlugin;
import org.elasticsearch.rest.RestHandler;
import org.elasticsearch.threadpool.ExecutorBuilder;
import org.elasticsearch.threadpool.FixedExecutorBuilder;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import java.util.function.Supplier;

/**
 * The fuserank Elasticsearch plugin. This class only wires: the work lives in the encoder and
 * reranker libraries and in this plugin's feature packages.
 */
public class FuseRankPlugin extends Plugin implements ActionPlugin, CircuitBreakerPlugin, IngestPlugin, SearchPlugin {

    private static final Logger logger = LogManager.getLogger(FuseRankPlugin.class);

    private ModelRegistry registry;
    /** Set by the node before {@link #createComponents}: the breaker that image decoding reserves its memory from. */
    private final SetOnce<CircuitBreaker> breaker = new SetOnce<>();
    /** Filled by {@link #createComponents}; the rescorer's parser and reader, registered earlier, read it when they run. */
    private final SetOnce<ItmServices> itmServices = new SetOnce<>();

    @Override
    public List<Setting<?>> getSettings() {
        return FuseRankSettings.all();
    }

    @Override
    public BreakerSettings getCircuitBreaker(Settings settings) {
        return FuseRankSettings.breaker(settings);
    }

    @Override
    public void setCircuitBreaker(CircuitBreaker circuitBreaker) {
        breaker.set(circuitBreaker);
    }

    @Override
    public List<ExecutorBuilder<?>> getExecutorBuilders(Settings settings) {
        return List.of(new FixedExecutorBuilder(settings, FuseRankSettings.INFERENCE_POOL,
            FuseRankSettings.INFERENCE_THREADS.get(settings), FuseRankSettings.INFERENCE_QUEUE_SIZE.get(settings),
            "fuserank.thread_pool.inference", EsExecutors.TaskTrackingConfig.DO_NOT_TRACK));
    }

    /**
     * Loads the native runtimes at node start so that a missing library or entitlement is one
     * clear log line at start rather than an error on the first request (the node still starts:
     * it serves everything that does not need a model), and builds the model registry; models
     * load on first use.
     */
    @Override
    public Collection<?> createComponents(PluginServices services) {
        List<Object> components = new ArrayList<>();
        try {
            NativeRuntimeCheck.Result result = NativeRuntimeCheck.run();
            logger.info("fuserank {}", result.summary());
            components.add(result);
        } catch (IllegalStateException e) {
            logger.error("fuserank cannot run models on this node", e);
        }
        Settings settings = services.environment().settings();
        InferenceOptions options = new InferenceOptions(FuseRankSettings.INTRA_OP_THREADS.get(settings),
            FuseRankSettings.CUDA.get(settings), 0, FuseRankSettings.precision(settings));
        registry = new ModelRegistry(FuseRankSettings.modelRoots(services.environment()), options,
            FuseRankSettings.MAX_FUSION_BATCH.get(settings), new BreakerMemoryBudget(breaker.get()));
        components.add(registry);
        InferenceService inference = new InferenceService(registry, services.threadPool());
        components.add(inference);
        components.add(new QueryEncodingCache(256, TimeValue.timeValueMinutes(1)));
        InlineInference rescores = new InlineInference(registry, FuseRankSettings.MAX_CONCURRENT_RESCORES.getKey(),
            FuseRankSettings.MAX_CONCURRENT_RESCORES.get(settings), FuseRankSettings.RESCORE_QUEUE_SIZE.getKey(),
            FuseRankSettings.RESCORE_QUEUE_SIZE.get(settings));
        components.add(rescores);
        itmServices.set(new ItmServices(rescores, FuseRankSettings.MAX_RESCORE_WINDOW.get(settings), new RescoredWindows()));
        return components;
    }

    @Override
    public Collection<ActionHandler> getActions() {
        return List.of(new ActionHandler(EncodeAction.INSTANCE, TransportEncodeAction.class),
            new ActionHandler(ModelsAction.INSTANCE, TransportModelsAction.class));
    }

    @Override
    public Collection<RestHandler> getRestHandlers(RestHandlersServices services, Supplier<DiscoveryNodes> nodes,
                                                   Predicate<NodeFeature> clusterSupportsFeature) {
        return List.of(new RestModelsAction());
    }

    @Override
    public Map<String, Processor.Factory> getProcessors(Processor.Parameters parameters) {
        return Map.of(FuseRankProcessor.TYPE, new FuseRankProcessorFactory(parameters.client, parameters.threadContext));
    }

    @Override
    public List<QueryVectorBuilderSpec<?>> getQueryVectorBuilders() {
        return List.of(
            new QueryVectorBuilderSpec<>(TextQueryVectorBuilder.NAME, TextQueryVectorBuilder::new, TextQueryVectorBuilder::fromXContent),
            new QueryVectorBuilderSpec<>(ImageQueryVectorBuilder.NAME, ImageQueryVectorBuilder::new, ImageQueryVectorBuilder::fromXContent));
    }

    @Override
    public List<RescorerSpec<?>> getRescorers() {
        return List.of(ItmRescorerBuilder.spec(itmServices::get));
    }

    @Override
    public void close() throws IOException {
        IOUtils.close(registry);
    }
}
