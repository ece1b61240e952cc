package io.fuserank.plugin.action;

import org.elasticsearch.action.ActionType;

/**
 * Encodes texts or images with a model on this node's inference pool. Used by the query vector
 * builders, by the ITM rescorer's coordinator-side rewrite and by the ingest processor, none of
 * which can reach the plugin's components directly: they all hold a client.
 *
 * <p>An {@code internal:} action, always sent through {@link InternalEncodeClient} in a stashed
 * thread context: with security on, it then runs as the internal system user (the only principal
 * granted {@code internal:*}), on behalf of a search or bulk request that Elasticsearch has
 * already authorized against its indices. So reading or writing an index is all a user needs to
 * use the models on it, and no user, not even a superuser, can call the action directly. It is
 * local-only besides: no transport handler and no REST route reach it.
 */
public final class EncodeAction {

    public static final String NAME = "internal:fuserank/encode";
    public static final ActionType<EncodeResponse> INSTANCE = new ActionType<>(NAME);

    private EncodeAction() {
    }
}
