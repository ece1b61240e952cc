package io.fuserank.tools;

import co.elastic.clients.elasticsearch.ElasticsearchClient;
import co.elastic.clients.elasticsearch._helpers.bulk.BulkIngester;
import co.elastic.clients.elasticsearch._helpers.bulk.BulkListener;
import co.elastic.clients.elasticsearch._types.ElasticsearchException;
import co.elastic.clients.elasticsearch.core.BulkRequest;
import co.elastic.clients.elasticsearch.core.BulkResponse;
import co.elastic.clients.elasticsearch.core.bulk.BulkOperation;
import co.elastic.clients.elasticsearch.core.bulk.BulkResponseItem;
import co.elastic.clients.transport.TransportException;
import co.elastic.clients.util.BinaryData;
import co.elastic.clients.util.ContentType;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Sends documents through the official client's {@link BulkIngester} (bounded requests in flight,
 * flushing by count and by size) and sees each one through to an outcome in the {@link Tally}.
 *
 * <p>The retries are done here, not by the ingester's own {@code backoffPolicy}: in 9.x that
 * retries only items that failed with 429, while a node restarting answers 503 items or refuses
 * the connection altogether, failing the whole request. Every document whose item or request
 * failed with 429, 5xx or a connection error is added again after an exponential back-off (the
 * documents of one request together, in one later request); other errors go to the dead-letter
 * file at once. While documents wait for a retry no new ones are taken: a cluster that pushes
 * back gets less traffic until the retries are through, instead of fresh documents competing with
 * them for the same full queues, and an unreachable one stops the encoders too. When a document
 * exhausts its retries on connection failures the cluster is considered unreachable: the run is
 * aborted and documents still in flight fail without further waits, so the command ends with one
 * clear message instead of hours of retries.
 */
final class BulkIndexer {

    /** A document on its way, with the number of retries already spent on it. */
    record Attempt(IndexDocument document, int retries) {
    }

    private final String index;
    private final String pipeline;
    private final RetryPolicy retryPolicy;
    private final String target;
    private final Tally tally;
    private final BulkIngester<Attempt> ingester;
    private final ScheduledExecutorService retryTimer = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "fuserank-bulk-retry");
        t.setDaemon(true);
        return t;
    });
    private final Object lock = new Object();
    /** Submitted documents without an outcome yet. */
    private long unresolved;
    /** Documents waiting for their retry's back-off to pass. */
    private long waiting;

    /**
     * @param pipeline the ingest pipeline every document goes through, or null
     * @param target   the cluster's URL(s), for the message when it cannot be reached
     */
    BulkIndexer(ElasticsearchClient client, String index, String pipeline, int maxInFlight, int maxDocuments, long maxBytes,
                RetryPolicy retryPolicy, String target, Tally tally) {
        this.index = index;
        this.pipeline = pipeline;
        this.retryPolicy = retryPolicy;
        this.target = target;
        this.tally = tally;
        this.ingester = BulkIngester.of(b -> b.client(client)
            .maxConcurrentRequests(maxInFlight)
            .maxOperations(maxDocuments)
            .maxSize(maxBytes)
            .listener(new Listener()));
    }

    /**
     * Queues a document. Blocks while documents wait for a retry, and while the buffer is full and
     * {@code maxInFlight} requests are out. Once the run is aborted the document is dropped.
     */
    void submit(IndexDocument document) throws InterruptedException {
        synchronized (lock) {
            while (waiting > 0 && !tally.aborted()) {
                lock.wait(100);
            }
            if (tally.aborted()) {
                return;
            }
            unresolved++;
        }
        add(new Attempt(document, 0));
    }

    private void add(Attempt attempt) {
        IndexDocument document = attempt.document();
        BulkOperation operation = BulkOperation.of(op -> op.index(i -> i.index(index).id(document.id()).pipeline(pipeline)
            .document(BinaryData.of(document.json(), ContentType.APPLICATION_JSON))));
        ingester.add(operation, attempt);
    }

    /** Sends what is buffered, waits until every submitted document has an outcome, then closes the ingester. */
    void finish() throws InterruptedException {
        ingester.flush();
        synchronized (lock) {
            while (unresolved > 0) {
                lock.wait();
            }
        }
        ingester.close();
        retryTimer.shutdownNow();
    }

    private void resolved(int n) {
        synchronized (lock) {
            unresolved -= n;
            lock.notifyAll();
        }
    }

    private void waiting(int n) {
        synchronized (lock) {
            waiting += n;
            lock.notifyAll();
        }
    }

    private void succeeded(List<Attempt> attempts) {
        tally.indexed(attempts.size());
        resolved(attempts.size());
    }

    private void failed(Attempt attempt, String reason) {
        tally.failed(attempt.document().id(), attempt.document().path(), reason);
        resolved(1);
    }

    /**
     * Documents that failed in a way worth retrying: each is added again after the back-off for
     * its next retry, unless it has none left or the run is aborted.
     */
    private void retryLater(List<Attempt> attempts, String cause, String error, boolean connection) {
        Map<Integer, List<Attempt>> byRetry = new TreeMap<>();
        for (Attempt attempt : attempts) {
            if (tally.aborted()) {
                failed(attempt, FailureCode.ABORTED.reason(tally.abortReason()));
            } else if (attempt.retries() >= retryPolicy.retries()) {
                if (connection) {
                    String reason = ClusterUnreachableException.message(target, retryPolicy.attempts(), error);
                    tally.abort(reason);
                    failed(attempt, FailureCode.UNREACHABLE.reason(reason));
                } else {
                    failed(attempt, FailureCode.RETRIES_EXHAUSTED.reason(
                        "[" + cause + "] after " + retryPolicy.attempts() + " attempts: " + error));
                }
            } else {
                byRetry.computeIfAbsent(attempt.retries() + 1, r -> new ArrayList<>()).add(new Attempt(attempt.document(), attempt.retries() + 1));
            }
        }
        byRetry.forEach((retry, again) -> {
            tally.retried(cause, again.size());
            waiting(again.size());
            retryTimer.schedule(() -> {
                again.forEach(this::add);
                ingester.flush();
                waiting(-again.size());
            }, retryPolicy.delayBefore(retry).toMillis(), TimeUnit.MILLISECONDS);
        });
    }

    /** Sorts each response's items into indexed, retried and dead. Runs on the ingester's threads; never blocks. */
    private final class Listener implements BulkListener<Attempt> {

        @Override
        public void beforeBulk(long executionId, BulkRequest request, List<Attempt> contexts) {
        }

        @Override
        public void afterBulk(long executionId, BulkRequest request, List<Attempt> contexts, BulkResponse response) {
            List<Attempt> indexed = new ArrayList<>();
            Map<Integer, List<Attempt>> retryByStatus = new TreeMap<>();
            Map<Integer, String> errorByStatus = new TreeMap<>();
            List<BulkResponseItem> items = response.items();
            for (int i = 0; i < items.size(); i++) {
                BulkResponseItem item = items.get(i);
                Attempt attempt = contexts.get(i);
                if (item.error() == null) {
                    indexed.add(attempt);
                } else if (RetryPolicy.retryableStatus(item.status())) {
                    retryByStatus.computeIfAbsent(item.status(), s -> new ArrayList<>()).add(attempt);
                    errorByStatus.putIfAbsent(item.status(), Errors.describe(item.error()));
                } else {
                    failed(attempt, FailureCode.REJECTED.reason("status [" + item.status() + "] " + Errors.describe(item.error())));
                }
            }
            succeeded(indexed);
            retryByStatus.forEach((status, attempts) -> retryLater(attempts, Integer.toString(status), errorByStatus.get(status), false));
        }

        @Override
        public void afterBulk(long executionId, BulkRequest request, List<Attempt> contexts, Throwable failure) {
            String error = Errors.describe(RetryPolicy.unwrap(failure));
            if (RetryPolicy.retryable(failure)) {
                boolean connection = RetryPolicy.isConnectionFailure(failure);
                retryLater(contexts, connection ? "connection" : Integer.toString(status(failure)), error, connection);
            } else {
                contexts.forEach(attempt -> failed(attempt, FailureCode.REJECTED.reason("the bulk request failed: " + error)));
            }
        }

        private static int status(Throwable failure) {
            Throwable t = RetryPolicy.unwrap(failure);
            if (t instanceof ElasticsearchException e) {
                return e.status();
            }
            if (t instanceof TransportException e) {
                return e.statusCode();
            }
            return 0;
        }
    }
}
