package io.fuserank.plugin.action;

import io.fuserank.plugin.model.ModelListing;
import org.elasticsearch.action.support.nodes.BaseNodeResponse;
import org.elasticsearch.cluster.node.DiscoveryNode;
import org.elasticsearch.common.io.stream.StreamInput;
import org.elasticsearch.common.io.stream.StreamOutput;

import java.io.IOException;
import java.util.Map;

/** One node's answer to {@link ModelsAction}: its {@link ModelListing}. */
public final class NodeModels extends BaseNodeResponse {

    private final Map<String, Object> listing;

    public NodeModels(DiscoveryNode node, Map<String, Object> listing) {
        super(node);
        this.listing = Map.copyOf(listing);
    }

    NodeModels(StreamInput in, DiscoveryNode node) throws IOException {
        super(in, node);
        this.listing = in.readGenericMap();
    }

    public Map<String, Object> listing() {
        return listing;
    }

    @Override
    public void writeTo(StreamOutput out) throws IOException {
        super.writeTo(out);
        out.writeGenericMap(listing);
    }
}
