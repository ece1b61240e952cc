package io.fuserank.plugin.action;

import io.fuserank.encoder.Encoding;
import io.fuserank.encoder.FeatureCodec;
import io.fuserank.encoder.TokenFeatures;
import io.fuserank.plugin.query.QueryTestSupport;
import org.elasticsearch.action.ActionListener;
import org.elasticsearch.action.support.PlainActionFuture;
import org.elasticsearch.core.TimeValue;
import org.elasticsearch.test.ESTestCase;

import java.util.ArrayList;
import java.util.List;

public class QueryEncodingCacheTests extends ESTestCase {

    private static final EncodeResponse OK = new EncodeResponse(
        List.of(EncodeResponse.Result.ok(new Encoding(new float[] {1f}, new TokenFeatures(1, 1, 1, new float[] {2f})))), QueryTestSupport.featuresStored(FeatureCodec.INT8), QueryTestSupport.rerank(1f));

    private final QueryEncodingCache cache = new QueryEncodingCache(16, TimeValue.timeValueMinutes(1));

    public void testAConcurrentIdenticalAskJoinsThePendingEncoding() throws Exception {
        QueryEncodingCache.Key key = QueryEncodingCache.keyOf(new EncodeRequest("m", List.of(EncodeRequest.Input.text("a red circle"))));
        List<ActionListener<EncodeResponse>> started = new ArrayList<>();
        PlainActionFuture<EncodeResponse> first = new PlainActionFuture<>();
        PlainActionFuture<EncodeResponse> second = new PlainActionFuture<>();
        cache.getOrEncode(key, started::add, first);
        cache.getOrEncode(key, started::add, second);
        assertEquals("one encoding started", 1, started.size());
        assertFalse(second.isDone());
        started.get(0).onResponse(OK);
        assertSame(OK, first.get());
        assertSame(OK, second.get());
        assertEquals(1, cache.hits());
    }

    public void testFailuresAreNotRemembered() {
        QueryEncodingCache.Key key = QueryEncodingCache.keyOf(new EncodeRequest("m", List.of(EncodeRequest.Input.image(new byte[] {1, 2}))));
        List<ActionListener<EncodeResponse>> started = new ArrayList<>();
        PlainActionFuture<EncodeResponse> failed = new PlainActionFuture<>();
        cache.getOrEncode(key, started::add, failed);
        started.get(0).onFailure(new IllegalArgumentException("not an image"));
        expectThrows(IllegalArgumentException.class, failed::actionGet);
        cache.getOrEncode(key, started::add, new PlainActionFuture<>());
        assertEquals("a failure is asked again", 2, started.size());
        started.get(1).onResponse(new EncodeResponse(List.of(EncodeResponse.Result.invalid("bad")), QueryTestSupport.featuresStored(FeatureCodec.INT8), QueryTestSupport.rerank(1f)));
        cache.getOrEncode(key, started::add, new PlainActionFuture<>());
        assertEquals("a per-input failure is asked again", 3, started.size());
        assertEquals(0, cache.hits());
    }

    public void testBatchesAreNotCached() {
        assertNull(QueryEncodingCache.keyOf(new EncodeRequest("m", List.of(EncodeRequest.Input.text("a"), EncodeRequest.Input.text("b")))));
    }
}
