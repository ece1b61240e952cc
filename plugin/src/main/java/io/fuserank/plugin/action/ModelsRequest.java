package io.fuserank.plugin.action;

import org.elasticsearch.action.support.nodes.BaseNodesRequest;

/** Asks the given nodes (all of them when none are named) for their models. */
public final class ModelsRequest extends BaseNodesRequest {

    public ModelsRequest(String... nodeIds) {
        super(nodeIds);
    }
}
