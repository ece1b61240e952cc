package io.fuserank.plugin.action;

import org.elasticsearch.action.ActionType;

/**
 * Encodes texts or images with a model on the receiving node's inference pool. Used by the query
 * vector builders, by the ITM rescorer's coordinator-side rewrite and by the ingest processor,
 * none of which can reach the plugin's components directly: they all hold a client.
 */
public final class EncodeAction {

    public static final String NAME = "cluster:internal/fuserank/encode";
    public static final ActionType<EncodeResponse> INSTANCE = new ActionType<>(NAME);

    private EncodeAction() {
    }
}
