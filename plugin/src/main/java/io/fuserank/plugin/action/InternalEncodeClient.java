package io.fuserank.plugin.action;

import org.elasticsearch.action.ActionListener;
import org.elasticsearch.action.support.ContextPreservingActionListener;
import org.elasticsearch.client.internal.Client;
import org.elasticsearch.common.util.concurrent.ThreadContext;

import java.util.function.Supplier;

/**
 * Sends an {@link EncodeRequest} the way Elasticsearch's own plugins run internal work on behalf
 * of an authorized request ({@code ClientHelper.executeAsyncWithOrigin}): the caller's thread
 * context is stashed around the client call, so the action carries no user's authentication and
 * security runs it as the system user; the listener runs in the caller's context again.
 *
 * <p>Every caller sits behind an action Elasticsearch has already authorized: the query vector
 * builders and the rescorer's rewrite run inside a search the user may run on its indices, the
 * ingest processor inside a bulk request the user may send. Encoding reads no index, so running
 * it as the system user grants nothing beyond what that authorization allowed.
 */
public final class InternalEncodeClient {

    private InternalEncodeClient() {
    }

    /** Runs {@link EncodeAction} in an empty thread context; {@code listener} hears back in the caller's. */
    public static void execute(Client client, EncodeRequest request, ActionListener<EncodeResponse> listener) {
        ThreadContext threadContext = client.threadPool().getThreadContext();
        Supplier<ThreadContext.StoredContext> callers = threadContext.newRestorableContext(false);
        try (ThreadContext.StoredContext ignored = threadContext.stashContext()) {
            client.execute(EncodeAction.INSTANCE, request, new ContextPreservingActionListener<>(callers, listener));
        }
    }
}
