package io.fuserank.plugin.model;

import io.fuserank.plugin.FuseRankSettings;
import io.fuserank.plugin.FuseRankSingleNodeTestCase;
import io.fuserank.plugin.action.EncodeAction;
import io.fuserank.plugin.action.EncodeRequest;
import io.fuserank.plugin.action.EncodeResponse;
import org.elasticsearch.ExceptionsHelper;
import org.elasticsearch.action.support.PlainActionFuture;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.common.util.concurrent.EsRejectedExecutionException;
import org.elasticsearch.rest.RestStatus;
import org.elasticsearch.threadpool.ThreadPool;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;

/**
 * The inference pool is bounded: with one thread and a queue of one, a burst of encodings is
 * rejected with 429 (never queued without bound), every request is answered, and the
 * model's counters record the rejections.
 */
public class InferencePoolRejectionTests extends FuseRankSingleNodeTestCase {

    @Override
    protected Settings suiteSettings() {
        return Settings.builder().put("fuserank.inference.threads", 1).put("fuserank.inference.queue_size", 1).build();
    }

    public void testABurstBeyondTheQueueIsRejectedWith429() throws Exception {
        client().execute(EncodeAction.INSTANCE, new EncodeRequest("fuserank-small", List.of(EncodeRequest.Input.text("warm up")))).get();
        // Occupy the pool's only thread and wait until it runs the blocker: the warm-up's task may
        // still be finishing after its answer, and a blocker queued behind it would fill the queue.
        CountDownLatch occupied = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        getInstanceFromNode(ThreadPool.class).executor(FuseRankSettings.INFERENCE_POOL).execute(() -> {
            occupied.countDown();
            safeAwait(release);
        });
        safeAwait(occupied);
        List<PlainActionFuture<EncodeResponse>> futures = new ArrayList<>();
        for (int i = 0; i < 40; i++) {
            // Distinct texts, so that no request joins another's pending encoding.
            EncodeRequest request = new EncodeRequest("fuserank-small", List.of(EncodeRequest.Input.text("a red circle number " + i)));
            PlainActionFuture<EncodeResponse> future = new PlainActionFuture<>();
            client().execute(EncodeAction.INSTANCE, request, future);
            futures.add(future);
        }
        // Encode requests are dispatched on the calling thread, so every rejection is answered already.
        assertEquals("only the queued request is pending", 1, futures.stream().filter(f -> f.isDone() == false).count());
        release.countDown();
        int answered = 0;
        int rejected = 0;
        for (PlainActionFuture<EncodeResponse> future : futures) {
            try {
                assertFalse(future.get().results().get(0).failed());
                answered++;
            } catch (ExecutionException e) {
                Throwable cause = ExceptionsHelper.unwrap(e, EsRejectedExecutionException.class);
                assertNotNull("only rejections may fail: " + e, cause);
                assertEquals(RestStatus.TOO_MANY_REQUESTS, ExceptionsHelper.status(cause));
                rejected++;
            }
        }
        assertEquals(40, answered + rejected);
        assertEquals("the queue holds one; the other 39 are rejected", 39, rejected);
        LoadedModel model = getInstanceFromNode(ModelRegistry.class).get("fuserank-small");
        assertEquals(rejected, model.stats().rejections());
    }
}
