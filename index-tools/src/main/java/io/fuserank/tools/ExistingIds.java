package io.fuserank.tools;

import co.elastic.clients.elasticsearch.ElasticsearchClient;
import co.elastic.clients.elasticsearch.core.MgetResponse;
import co.elastic.clients.elasticsearch.core.mget.MultiGetResponseItem;

import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * {@code --resume}: which of a batch's ids the index already holds, asked once per batch just
 * before it would be encoded, so a million-document resume costs one small request per batch and
 * never a list of every id in memory. {@code mget} is used rather than an {@code ids} query because
 * it is real-time: documents indexed since the last refresh (the moment before a kill) count.
 */
final class ExistingIds {

    private final ElasticsearchClient client;
    private final String index;
    private final RetryPolicy retryPolicy;
    private final String target;

    ExistingIds(ElasticsearchClient client, String index, RetryPolicy retryPolicy, String target) {
        this.client = client;
        this.index = index;
        this.retryPolicy = retryPolicy;
        this.target = target;
    }

    /** The ids among {@code ids} that are indexed already. */
    Set<String> indexed(List<String> ids) throws Exception {
        MgetResponse<Void> response = retryPolicy.call(target,
            () -> client.mget(m -> m.index(index).ids(ids).source(s -> s.fetch(false)), Void.class));
        Set<String> found = new HashSet<>();
        for (MultiGetResponseItem<Void> item : response.docs()) {
            if (item.isFailure()) {
                throw new IllegalStateException("cannot check whether [" + item.failure().id() + "] is indexed in [" + index + "]: "
                    + Errors.describe(item.failure().error()));
            }
            if (item.result().found()) {
                found.add(item.result().id());
            }
        }
        return found;
    }
}
