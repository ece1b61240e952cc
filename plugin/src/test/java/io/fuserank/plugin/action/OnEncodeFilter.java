package io.fuserank.plugin.action;

import org.elasticsearch.action.ActionListener;
import org.elasticsearch.action.ActionRequest;
import org.elasticsearch.action.support.ActionFilter;

/**
 * An action filter that runs a callback for every {@link EncodeAction} request, in the thread
 * context the request runs in (where security's own filter looks), and lets it proceed.
 */
public final class OnEncodeFilter extends ActionFilter.Simple {

    private final Runnable onEncode;

    public OnEncodeFilter(Runnable onEncode) {
        this.onEncode = onEncode;
    }

    @Override
    public int order() {
        return 0;
    }

    @Override
    protected boolean apply(String action, ActionRequest request, ActionListener<?> listener) {
        if (action.equals(EncodeAction.NAME)) {
            onEncode.run();
        }
        return true;
    }
}
