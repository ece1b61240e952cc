package io.fuserank.plugin.rest;

import io.fuserank.plugin.action.ModelsAction;
import io.fuserank.plugin.action.ModelsRequest;
import org.elasticsearch.client.internal.node.NodeClient;
import org.elasticsearch.common.Strings;
import org.elasticsearch.rest.BaseRestHandler;
import org.elasticsearch.rest.RestRequest;
import org.elasticsearch.rest.action.RestActions;

import java.util.List;

import static org.elasticsearch.rest.RestRequest.Method.GET;

/**
 * {@code GET _fuserank/models} and {@code GET _fuserank/models/{node_id}}: every node's models
 * ({@link ModelsAction}, granted by the {@code monitor} cluster privilege), with a manifest
 * summary and the counters of the loaded ones. {@code node_id} takes Elasticsearch's node
 * filters ({@code _local}, names, ids, comma-separated).
 */
public final class RestModelsAction extends BaseRestHandler {

    @Override
    public String getName() {
        return "fuserank_models";
    }

    @Override
    public List<Route> routes() {
        return List.of(new Route(GET, "/_fuserank/models"), new Route(GET, "/_fuserank/models/{node_id}"));
    }

    @Override
    protected RestChannelConsumer prepareRequest(RestRequest request, NodeClient client) {
        ModelsRequest models = new ModelsRequest(Strings.splitStringByCommaToArray(request.param("node_id")));
        return channel -> client.execute(ModelsAction.INSTANCE, models, new RestActions.NodesResponseRestListener<>(channel));
    }
}
