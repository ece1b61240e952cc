package io.fuserank.plugin.ingest;

import io.fuserank.encoder.DocumentStorage;
import io.fuserank.plugin.action.EncodeRequest;
import io.fuserank.plugin.action.EncodeResponse;
import org.elasticsearch.action.ActionListener;
import org.elasticsearch.action.support.ContextPreservingActionListener;
import org.elasticsearch.common.util.concurrent.ThreadContext;
import org.elasticsearch.logging.LogManager;
import org.elasticsearch.logging.Logger;

import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BiConsumer;
import java.util.function.Consumer;

/**
 * Gathers the inputs of concurrently ingested documents into batched encode calls for one model,
 * so that the documents of a bulk request reach the encoder together: one ONNX call for a batch
 * of images costs far less than one call per image.
 *
 * <p>No timer and no added latency: the first input starts a call at once; while that call runs,
 * further inputs queue, and when it answers the next call takes up to {@code maxBatch} of them.
 * Ingest submits a bulk request's documents in one loop, much faster than any encoder call, so
 * all but the first arrive while the first call runs. At most one call per model is in flight
 * from ingest on a node, which also keeps ingest from filling the inference pool's queue that
 * search requests share.
 *
 * <p>Every submitted listener is completed exactly once: with its own result (which may be that
 * input's own error), or with the exception of a call that failed as a whole (a 429 rejection,
 * an unknown model), which fails every input of that batch. A listener that throws is logged
 * and does not keep the others from completing.
 *
 * <p>A batch serves many requests, possibly of different users, so no submitter's thread context
 * may reach the call or another submitter: the call runs in an empty (stashed) context, on behalf
 * of all of them (each has already been authorized for its own bulk request), and each listener
 * runs in its own submitter's context, captured when it submitted.
 */
final class EncodeBatcher {

    private static final Logger logger = LogManager.getLogger(EncodeBatcher.class);

    /** One input's result and the codec the model's manifest stores token features with. */
    record Encoded(EncodeResponse.Result result, DocumentStorage storage) {
    }

    private record Pending(EncodeRequest.Input input, ActionListener<Encoded> listener) {
    }

    private final String modelId;
    private final int maxBatch;
    private final BiConsumer<EncodeRequest, ActionListener<EncodeResponse>> encoder;
    private final ThreadContext threadContext;
    private final Queue<Pending> queue = new ConcurrentLinkedQueue<>();
    private final AtomicBoolean inFlight = new AtomicBoolean();

    /**
     * @param encoder sends one request (the node client's encode action in the plugin) and
     *                answers the listener exactly once
     */
    EncodeBatcher(String modelId, int maxBatch, BiConsumer<EncodeRequest, ActionListener<EncodeResponse>> encoder,
                  ThreadContext threadContext) {
        if (maxBatch < 1) {
            throw new IllegalArgumentException("maxBatch must be at least [1], got [" + maxBatch + "]");
        }
        this.modelId = modelId;
        this.maxBatch = maxBatch;
        this.encoder = encoder;
        this.threadContext = threadContext;
    }

    /** Queues one input; {@code listener} hears its result once a call that carries it answers. */
    void submit(EncodeRequest.Input input, ActionListener<Encoded> listener) {
        queue.add(new Pending(input, ContextPreservingActionListener.wrapPreservingContext(listener, threadContext)));
        flushIfIdle();
    }

    /**
     * Starts a call if none is in flight. Called after every submit and after every call, so an
     * input queued while a call ends is never stranded: either its submitter or the ending call
     * sees it.
     */
    private void flushIfIdle() {
        while (queue.isEmpty() == false && inFlight.compareAndSet(false, true)) {
            List<Pending> batch = drain();
            if (batch.isEmpty()) {
                // another thread's call took them between our check and our compareAndSet
                inFlight.set(false);
                continue;
            }
            send(batch);
            return;
        }
    }

    private List<Pending> drain() {
        List<Pending> batch = new ArrayList<>(Math.min(maxBatch, 16));
        Pending next;
        while (batch.size() < maxBatch && (next = queue.poll()) != null) {
            batch.add(next);
        }
        return batch;
    }

    private void send(List<Pending> batch) {
        ActionListener<EncodeResponse> done = ActionListener.notifyOnce(new ActionListener<>() {
            @Override
            public void onResponse(EncodeResponse response) {
                try {
                    complete(batch, response);
                } finally {
                    release();
                }
            }

            @Override
            public void onFailure(Exception e) {
                try {
                    failAll(batch, e);
                } finally {
                    release();
                }
            }
        });
        List<EncodeRequest.Input> inputs = batch.stream().map(Pending::input).toList();
        // Whichever submitter's thread gets here, the call must not run as that submitter.
        try (ThreadContext.StoredContext ignored = threadContext.stashContext()) {
            encoder.accept(new EncodeRequest(modelId, inputs), done);
        } catch (Exception e) {
            done.onFailure(e);
        }
    }

    private void release() {
        inFlight.set(false);
        flushIfIdle();
    }

    private void complete(List<Pending> batch, EncodeResponse response) {
        List<EncodeResponse.Result> results = response.results();
        if (results.size() != batch.size()) {
            failAll(batch, new IllegalStateException("model [" + modelId + "] answered [" + results.size() + "] results for ["
                + batch.size() + "] inputs"));
            return;
        }
        for (int i = 0; i < batch.size(); i++) {
            Encoded encoded = new Encoded(results.get(i), response.documentStorage());
            notify(batch.get(i), listener -> listener.onResponse(encoded));
        }
    }

    private void failAll(List<Pending> batch, Exception e) {
        for (Pending pending : batch) {
            notify(pending, listener -> listener.onFailure(e));
        }
    }

    private void notify(Pending pending, Consumer<ActionListener<Encoded>> completion) {
        try {
            completion.accept(pending.listener());
        } catch (RuntimeException e) {
            logger.warn("a listener of model [" + modelId + "]'s encode batch failed; the batch's other inputs still complete", e);
        }
    }
}
