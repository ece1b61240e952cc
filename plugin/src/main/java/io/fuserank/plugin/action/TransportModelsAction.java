package io.fuserank.plugin.action;

import io.fuserank.plugin.model.ModelListing;
import io.fuserank.plugin.model.ModelRegistry;
import org.elasticsearch.action.FailedNodeException;
import org.elasticsearch.action.support.ActionFilters;
import org.elasticsearch.action.support.nodes.TransportNodesAction;
import org.elasticsearch.cluster.node.DiscoveryNode;
import org.elasticsearch.cluster.service.ClusterService;
import org.elasticsearch.common.io.stream.StreamInput;
import org.elasticsearch.injection.guice.Inject;
import org.elasticsearch.tasks.Task;
import org.elasticsearch.threadpool.ThreadPool;
import org.elasticsearch.transport.AbstractTransportRequest;
import org.elasticsearch.transport.TransportService;

import java.io.IOException;
import java.util.List;

/**
 * Fans {@link ModelsAction} out to the nodes; each answers from its own {@link ModelRegistry}
 * (models load on first use per node, so only each node knows what it has loaded and served).
 * Listing reads directories, so nodes answer on the management pool.
 */
public final class TransportModelsAction
    extends TransportNodesAction<ModelsRequest, ModelsResponse, TransportModelsAction.NodeRequest, NodeModels, Void> {

    private final ModelRegistry registry;

    @Inject
    public TransportModelsAction(ThreadPool threadPool, ClusterService clusterService, TransportService transportService,
                                 ActionFilters actionFilters, ModelRegistry registry) {
        super(ModelsAction.NAME, clusterService, transportService, actionFilters, NodeRequest::new,
            threadPool.executor(ThreadPool.Names.MANAGEMENT));
        this.registry = registry;
    }

    @Override
    protected ModelsResponse newResponse(ModelsRequest request, List<NodeModels> nodes, List<FailedNodeException> failures) {
        return new ModelsResponse(clusterService.getClusterName(), nodes, failures);
    }

    @Override
    protected NodeRequest newNodeRequest(ModelsRequest request) {
        return new NodeRequest();
    }

    @Override
    protected NodeModels newNodeResponse(StreamInput in, DiscoveryNode node) throws IOException {
        return new NodeModels(in, node);
    }

    @Override
    protected NodeModels nodeOperation(NodeRequest request, Task task) {
        return new NodeModels(clusterService.localNode(), ModelListing.describe(registry));
    }

    /** What each node is sent: nothing beyond the action itself. */
    public static final class NodeRequest extends AbstractTransportRequest {

        NodeRequest() {
        }

        NodeRequest(StreamInput in) throws IOException {
            super(in);
        }
    }
}
