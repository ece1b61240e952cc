package io.fuserank.plugin.action;

import org.elasticsearch.action.ActionType;

/**
 * Lists every node's models ({@code GET _fuserank/models}). A {@code cluster:monitor/} action, so
 * the {@code monitor} cluster privilege grants it, like the node stats it resembles.
 */
public final class ModelsAction {

    public static final String NAME = "cluster:monitor/fuserank/models";
    public static final ActionType<ModelsResponse> INSTANCE = new ActionType<>(NAME);

    private ModelsAction() {
    }
}
