package io.fuserank.plugin.action;

import org.elasticsearch.action.ActionListener;
import org.elasticsearch.action.support.SubscribableListener;
import org.elasticsearch.common.cache.Cache;
import org.elasticsearch.common.cache.CacheBuilder;
import org.elasticsearch.core.TimeValue;

import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Consumer;

/**
 * This node's recent and in-flight single-input encodings. One search that uses both a
 * {@code fuserank_text} query vector and the {@code fuserank_itm} rescorer asks for the same text
 * twice, in the same rewrite round on the same coordinating node (so the two asks run at the same
 * time); the second joins the first's pending result, so the model runs once per search. Bulk
 * encodings (several inputs) are never cached; failures are dropped at once so they are reported
 * again, not remembered; and entries live for at most a minute: the cache serves one search's
 * repeated work, not popular queries.
 */
public final class QueryEncodingCache {

    /** Model id plus the text, or the sha256 of the image file. */
    record Key(String modelId, String input) {
    }

    private final Cache<Key, SubscribableListener<EncodeResponse>> cache;
    private final LongAdder hits = new LongAdder();

    public QueryEncodingCache(int maxEntries, TimeValue ttl) {
        this.cache = CacheBuilder.<Key, SubscribableListener<EncodeResponse>>builder()
            .setMaximumWeight(maxEntries).setExpireAfterWrite(ttl).build();
    }

    /** The key of a request that may be cached, or null for a batch. */
    static Key keyOf(EncodeRequest request) {
        if (request.inputs().size() != 1) {
            return null;
        }
        EncodeRequest.Input input = request.inputs().get(0);
        return new Key(request.modelId(), input.isText() ? "text:" + input.text() : "image:" + sha256(input.image()));
    }

    /**
     * Answers {@code listener} with the cached or pending encoding of {@code key}, or starts it with
     * {@code encode} when there is none.
     */
    void getOrEncode(Key key, Consumer<ActionListener<EncodeResponse>> encode, ActionListener<EncodeResponse> listener) {
        boolean[] created = {false};
        SubscribableListener<EncodeResponse> entry;
        try {
            entry = cache.computeIfAbsent(key, k -> {
                created[0] = true;
                return new SubscribableListener<>();
            });
        } catch (ExecutionException e) {
            throw new IllegalStateException("the cache loader cannot fail", e);
        }
        if (created[0]) {
            SubscribableListener<EncodeResponse> pending = entry;
            encode.accept(ActionListener.wrap(response -> {
                if (response.results().stream().anyMatch(EncodeResponse.Result::failed)) {
                    cache.invalidate(key, pending);
                }
                pending.onResponse(response);
            }, e -> {
                cache.invalidate(key, pending);
                pending.onFailure(e);
            }));
        } else {
            hits.increment();
        }
        entry.addListener(listener);
    }

    /** Requests answered by an earlier or concurrent identical request so far. */
    public long hits() {
        return hits.sum();
    }

    private static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK always has SHA-256", e);
        }
    }
}
