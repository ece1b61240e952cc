package io.fuserank.plugin.action;

import org.elasticsearch.action.FailedNodeException;
import org.elasticsearch.action.support.TransportAction;
import org.elasticsearch.action.support.nodes.BaseNodesResponse;
import org.elasticsearch.cluster.ClusterName;
import org.elasticsearch.common.io.stream.StreamInput;
import org.elasticsearch.common.io.stream.StreamOutput;
import org.elasticsearch.xcontent.ToXContentFragment;
import org.elasticsearch.xcontent.XContentBuilder;

import java.io.IOException;
import java.util.Comparator;
import java.util.List;

/**
 * Every answering node's models, keyed by node name: {@code "nodes": {"<name>": {"id", "models_paths",
 * "models"}}}. The REST layer adds the usual {@code _nodes} header and {@code cluster_name}.
 */
public final class ModelsResponse extends BaseNodesResponse<NodeModels> implements ToXContentFragment {

    public ModelsResponse(ClusterName clusterName, List<NodeModels> nodes, List<FailedNodeException> failures) {
        super(clusterName, nodes, failures);
    }

    @Override
    protected List<NodeModels> readNodesFrom(StreamInput in) throws IOException {
        return TransportAction.localOnly();
    }

    @Override
    protected void writeNodesTo(StreamOutput out, List<NodeModels> nodes) throws IOException {
        TransportAction.localOnly();
    }

    @Override
    public XContentBuilder toXContent(XContentBuilder builder, Params params) throws IOException {
        builder.startObject("nodes");
        for (NodeModels node : getNodes().stream().sorted(Comparator.comparing(n -> n.getNode().getName())).toList()) {
            builder.startObject(node.getNode().getName());
            builder.field("id", node.getNode().getId());
            for (var entry : node.listing().entrySet()) {
                builder.field(entry.getKey(), entry.getValue());
            }
            builder.endObject();
        }
        return builder.endObject();
    }
}
