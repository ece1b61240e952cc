package io.fuserank.plugin.rest;

import io.fuserank.encoder.ModelBundle;
import io.fuserank.plugin.model.LoadedModel;
import io.fuserank.plugin.model.ModelRegistry;
import io.fuserank.plugin.model.ModelStats;
import org.elasticsearch.client.internal.node.NodeClient;
import org.elasticsearch.rest.BaseRestHandler;
import org.elasticsearch.rest.RestRequest;
import org.elasticsearch.rest.RestResponse;
import org.elasticsearch.rest.RestStatus;
import org.elasticsearch.xcontent.XContentBuilder;

import java.io.IOException;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.function.Supplier;
import java.util.stream.Collectors;

import static org.elasticsearch.rest.RestRequest.Method.GET;

/**
 * {@code GET _fuserank/models}: the models this node can serve, with a manifest summary and the
 * counters of the loaded ones (calls, failures, rejections, latency percentiles of recent calls).
 *
 * <p>The view is the node that receives the request: each node loads models on first use, so
 * ask the node you are interested in (or every node) for its counters.
 */
public final class RestModelsAction extends BaseRestHandler {

    private final Supplier<ModelRegistry> registry;
    private final Supplier<String> nodeName;

    public RestModelsAction(Supplier<ModelRegistry> registry, Supplier<String> nodeName) {
        this.registry = registry;
        this.nodeName = nodeName;
    }

    @Override
    public String getName() {
        return "fuserank_models";
    }

    @Override
    public List<Route> routes() {
        return List.of(new Route(GET, "/_fuserank/models"));
    }

    @Override
    protected RestChannelConsumer prepareRequest(RestRequest request, NodeClient client) {
        ModelRegistry models = registry.get();
        return channel -> {
            XContentBuilder builder = channel.newBuilder();
            write(builder, models, nodeName.get());
            channel.sendResponse(new RestResponse(RestStatus.OK, builder));
        };
    }

    static void write(XContentBuilder builder, ModelRegistry models, String node) throws IOException {
        Map<String, LoadedModel> loaded = models.loaded().stream().collect(Collectors.toMap(LoadedModel::id, Function.identity()));
        builder.startObject();
        builder.field("node", node);
        builder.field("models_paths", models.searchPaths().stream().map(Object::toString).toList());
        builder.startObject("models");
        for (String id : models.available()) {
            builder.startObject(id);
            LoadedModel model = loaded.get(id);
            builder.field("loaded", model != null);
            if (model != null) {
                writeManifest(builder, model.bundle());
                writeStats(builder, model.stats());
            }
            builder.endObject();
        }
        builder.endObject();
        builder.endObject();
    }

    private static void writeManifest(XContentBuilder builder, ModelBundle bundle) throws IOException {
        builder.startObject("manifest");
        builder.field("name", bundle.name());
        builder.field("path", bundle.directory().toString());
        builder.field("embedding_dim", bundle.embeddingDim());
        builder.field("similarity", bundle.similarity());
        builder.field("feature_width", bundle.featureWidth());
        builder.field("feature_layers", bundle.featureLayers());
        builder.field("image_tokens", bundle.imageTokens());
        builder.field("codec", bundle.codec());
        builder.field("max_text_tokens", bundle.maxTextTokens());
        builder.field("image_size", bundle.imageSize());
        builder.field("fusion_flops_per_pair", bundle.fusionFlopsPerPair());
        builder.field("itc_weight", bundle.itcWeight());
        builder.endObject();
    }

    private static void writeStats(XContentBuilder builder, ModelStats stats) throws IOException {
        double[] latency = stats.latencyPercentilesMillis();
        builder.startObject("stats");
        builder.field("calls", stats.calls());
        builder.field("failures", stats.failures());
        builder.field("rejections", stats.rejections());
        builder.startObject("latency_ms").field("p50", latency[0]).field("p95", latency[1]).field("p99", latency[2]).endObject();
        builder.endObject();
    }
}
