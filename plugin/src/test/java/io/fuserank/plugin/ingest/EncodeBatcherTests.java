package io.fuserank.plugin.ingest;

import io.fuserank.encoder.Encoding;
import io.fuserank.encoder.FeatureCodec;
import io.fuserank.encoder.TokenFeatures;
import io.fuserank.plugin.action.EncodeRequest;
import io.fuserank.plugin.action.EncodeResponse;
import io.fuserank.plugin.query.QueryTestSupport;
import org.elasticsearch.action.ActionListener;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.common.util.concurrent.EsRejectedExecutionException;
import org.elasticsearch.common.util.concurrent.ThreadContext;
import org.elasticsearch.test.ESTestCase;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.lessThan;

/** The micro-batcher: what goes into each call, and that every listener completes exactly once whatever happens. */
public class EncodeBatcherTests extends ESTestCase {

    /** An encoder that holds each call until the test answers it. */
    private static final class HeldCalls {
        final List<EncodeRequest> requests = new CopyOnWriteArrayList<>();
        final List<ActionListener<EncodeResponse>> listeners = new CopyOnWriteArrayList<>();

        void accept(EncodeRequest request, ActionListener<EncodeResponse> listener) {
            requests.add(request);
            listeners.add(listener);
        }

        /** Answers call {@code i} with one result per input: the text's first character as the embedding, or the input's error. */
        void answer(int i) {
            listeners.get(i).onResponse(echo(requests.get(i)));
        }
    }

    /** A header and a transient standing for the user that security keeps in the thread context. */
    private static final String USER = "_fuserank_test_user";

    private final ThreadContext threadContext = new ThreadContext(Settings.EMPTY);
    private final HeldCalls held = new HeldCalls();

    private static EncodeResponse echo(EncodeRequest request) {
        List<EncodeResponse.Result> results = new ArrayList<>();
        for (EncodeRequest.Input input : request.inputs()) {
            results.add(input.text().startsWith("bad")
                ? EncodeResponse.Result.invalid("cannot encode [" + input.text() + "]")
                : EncodeResponse.Result.ok(new Encoding(new float[] {input.text().charAt(0)}, new TokenFeatures(1, 1, 1, new float[] {1f}))));
        }
        return new EncodeResponse(results, QueryTestSupport.featuresStored(FeatureCodec.INT8), QueryTestSupport.rerank(1f));
    }

    /** Records what each input's listener heard; fails the test if one hears twice. */
    private static final class Outcomes {
        final Map<String, Object> byText = new ConcurrentHashMap<>();

        ActionListener<EncodeBatcher.Encoded> listener(String text) {
            return new ActionListener<>() {
                @Override
                public void onResponse(EncodeBatcher.Encoded encoded) {
                    record(text, encoded);
                }

                @Override
                public void onFailure(Exception e) {
                    record(text, e);
                }
            };
        }

        private void record(String text, Object outcome) {
            Object previous = byText.putIfAbsent(text, outcome);
            assertNull("[" + text + "] completed twice: " + previous + " and " + outcome, previous);
        }

        EncodeBatcher.Encoded encoded(String text) {
            return (EncodeBatcher.Encoded) byText.get(text);
        }

        Exception failure(String text) {
            return (Exception) byText.get(text);
        }
    }

    private final Outcomes outcomes = new Outcomes();

    private void submit(EncodeBatcher batcher, String text) {
        batcher.submit(EncodeRequest.Input.text(text), outcomes.listener(text));
    }

    private static List<String> texts(EncodeRequest request) {
        return request.inputs().stream().map(EncodeRequest.Input::text).toList();
    }

    public void testFirstInputGoesAtOnceAndTheRestWaitForItsCall() {
        EncodeBatcher batcher = new EncodeBatcher("m", 64, held::accept, threadContext);
        submit(batcher, "a");
        assertEquals(1, held.requests.size());
        assertEquals("m", held.requests.get(0).modelId());
        for (String text : List.of("b", "c", "d")) {
            submit(batcher, text);
        }
        assertEquals("no second call while the first runs", 1, held.requests.size());
        held.answer(0);
        assertEquals(List.of("b", "c", "d"), texts(held.requests.get(1)));
        assertEquals('a', outcomes.encoded("a").result().encoding().embedding()[0], 0f);
        assertEquals(FeatureCodec.INT8, outcomes.encoded("a").storage().modelCodec());
        assertNull("[b] waits for its call", outcomes.byText.get("b"));
        held.answer(1);
        assertEquals('d', outcomes.encoded("d").result().encoding().embedding()[0], 0f);
        assertEquals(2, held.requests.size());
    }

    public void testABatchTakesAtMostMaxBatchInputs() {
        EncodeBatcher batcher = new EncodeBatcher("m", 2, held::accept, threadContext);
        for (String text : List.of("a", "b", "c", "d", "e")) {
            submit(batcher, text);
        }
        held.answer(0);
        held.answer(1);
        held.answer(2);
        assertEquals(List.of(List.of("a"), List.of("b", "c"), List.of("d", "e")), held.requests.stream().map(r -> texts(r)).toList());
        assertEquals(5, outcomes.byText.size());
    }

    public void testAnInputsOwnErrorFailsOnlyThatInput() {
        EncodeBatcher batcher = new EncodeBatcher("m", 64, held::accept, threadContext);
        submit(batcher, "first");
        submit(batcher, "good");
        submit(batcher, "bad one");
        held.answer(0);
        held.answer(1);
        assertEquals("cannot encode [bad one]", outcomes.encoded("bad one").result().error().getMessage());
        assertFalse(outcomes.encoded("good").result().failed());
    }

    public void testAFailedCallFailsEveryInputOfItsBatchAndTheNextBatchStillGoes() {
        EncodeBatcher batcher = new EncodeBatcher("m", 64, held::accept, threadContext);
        submit(batcher, "a");
        submit(batcher, "b");
        submit(batcher, "c");
        held.answer(0);
        EsRejectedExecutionException rejected = new EsRejectedExecutionException("inference queue full");
        held.listeners.get(1).onFailure(rejected);
        assertSame(rejected, outcomes.failure("b"));
        assertSame(rejected, outcomes.failure("c"));
        submit(batcher, "d");
        assertEquals(List.of("d"), texts(held.requests.get(2)));
    }

    public void testAnEncoderThatThrowsFailsTheBatchAndDoesNotWedgeTheBatcher() {
        AtomicInteger calls = new AtomicInteger();
        EncodeBatcher batcher = new EncodeBatcher("m", 64, (request, listener) -> {
            if (calls.getAndIncrement() == 0) {
                throw new IllegalStateException("client closed");
            }
            listener.onResponse(echo(request));
        }, threadContext);
        submit(batcher, "a");
        assertThat(outcomes.failure("a").getMessage(), containsString("client closed"));
        submit(batcher, "b");
        assertEquals('b', outcomes.encoded("b").result().encoding().embedding()[0], 0f);
    }

    public void testAWrongNumberOfResultsFailsTheWholeBatch() {
        EncodeBatcher batcher = new EncodeBatcher("m", 64, (request, listener) -> listener.onResponse(
            new EncodeResponse(List.of(), QueryTestSupport.featuresStored(FeatureCodec.INT8), QueryTestSupport.rerank(1f))), threadContext);
        submit(batcher, "a");
        assertEquals("model [m] answered [0] results for [1] inputs", outcomes.failure("a").getMessage());
    }

    public void testAListenerThatThrowsDoesNotLoseTheOthers() {
        EncodeBatcher batcher = new EncodeBatcher("m", 64, held::accept, threadContext);
        submit(batcher, "first");
        batcher.submit(EncodeRequest.Input.text("throws"), new ActionListener<>() {
            @Override
            public void onResponse(EncodeBatcher.Encoded encoded) {
                throw new IllegalStateException("listener bug");
            }

            @Override
            public void onFailure(Exception e) {
                throw new IllegalStateException("listener bug");
            }
        });
        submit(batcher, "after");
        held.answer(0);
        held.answer(1);
        assertFalse(outcomes.encoded("after").result().failed());
        submit(batcher, "later");
        assertEquals("the batcher is free again", List.of("later"), texts(held.requests.get(2)));
    }

    /**
     * Two users' documents in one batch: the call carries neither user's headers or transients (as
     * security keeps its authentication), and each listener runs in its own submitter's context.
     */
    public void testEachListenerRunsInItsSubmittersThreadContextAndTheCallInNone() {
        List<String> callHeaders = new CopyOnWriteArrayList<>();
        List<Object> callTransients = new CopyOnWriteArrayList<>();
        EncodeBatcher batcher = new EncodeBatcher("m", 64, (request, listener) -> {
            callHeaders.add(String.valueOf(threadContext.getHeader(USER)));
            callTransients.add(String.valueOf((Object) threadContext.getTransient(USER)));
            held.accept(request, listener);
        }, threadContext);
        Map<String, String> seen = new ConcurrentHashMap<>();
        for (String id : List.of("alice-1", "bob-1", "alice-2", "bob-2")) {
            String user = id.substring(0, id.indexOf('-'));
            try (ThreadContext.StoredContext ignored = threadContext.stashContext()) {
                threadContext.putHeader(USER, user);
                threadContext.putTransient(USER, user);
                batcher.submit(EncodeRequest.Input.text(id), ActionListener.wrap(
                    r -> seen.put(id, threadContext.getHeader(USER) + "/" + threadContext.getTransient(USER)),
                    e -> fail("unexpected " + e)));
            }
        }
        assertEquals("alice-1 went at once, the other three wait for the next call", 1, held.requests.size());
        try (ThreadContext.StoredContext ignored = threadContext.stashContext()) {
            threadContext.putHeader(USER, "the answering thread");
            held.answer(0);
            assertEquals(List.of("bob-1", "alice-2", "bob-2"), texts(held.requests.get(1)));
            held.answer(1);
            assertEquals("the answering thread's own context is back", "the answering thread", threadContext.getHeader(USER));
        }
        assertEquals("neither call ran as a submitter", List.of("null", "null"), callHeaders);
        assertEquals(List.of("null", "null"), callTransients);
        assertEquals(Map.of("alice-1", "alice/alice", "bob-1", "bob/bob", "alice-2", "alice/alice", "bob-2", "bob/bob"), seen);
    }

    public void testConcurrentSubmittersAllCompleteOnceInFewerCallsThanInputs() throws Exception {
        ExecutorService answering = Executors.newSingleThreadExecutor();
        ExecutorService submitting = Executors.newFixedThreadPool(4);
        AtomicInteger calls = new AtomicInteger();
        try {
            EncodeBatcher batcher = new EncodeBatcher("m", 16, (request, listener) -> {
                calls.incrementAndGet();
                answering.execute(() -> listener.onResponse(echo(request)));
            }, threadContext);
            int inputs = 2000;
            CountDownLatch done = new CountDownLatch(inputs);
            for (int i = 0; i < inputs; i++) {
                String text = "t" + i;
                submitting.execute(() -> batcher.submit(EncodeRequest.Input.text(text), ActionListener.runAfter(outcomes.listener(text),
                    done::countDown)));
            }
            assertTrue("every listener completes", done.await(30, TimeUnit.SECONDS));
            assertEquals(inputs, outcomes.byText.size());
            assertTrue(outcomes.byText.values().stream().allMatch(o -> o instanceof EncodeBatcher.Encoded));
            assertThat(calls.get(), lessThan(inputs));
        } finally {
            submitting.shutdown();
            answering.shutdown();
            assertTrue(submitting.awaitTermination(10, TimeUnit.SECONDS));
            assertTrue(answering.awaitTermination(10, TimeUnit.SECONDS));
        }
    }

    public void testMaxBatchMustBePositive() {
        IllegalArgumentException e = expectThrows(IllegalArgumentException.class,
            () -> new EncodeBatcher("m", 0, held::accept, threadContext));
        assertEquals("maxBatch must be at least [1], got [0]", e.getMessage());
    }
}
