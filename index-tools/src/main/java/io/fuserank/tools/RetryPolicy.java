package io.fuserank.tools;

import co.elastic.clients.elasticsearch._types.ElasticsearchException;
import co.elastic.clients.transport.TransportException;

import javax.net.ssl.SSLException;
import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Which failures are worth retrying and how long to wait before each retry.
 *
 * <p>Retried: HTTP 429 (a full write or inference queue: the node asks the client to slow down),
 * 5xx (a node restarting, shards relocating), and connection-level failures (refused, reset, timed
 * out). Not retried: other 4xx (a bad document or bad credentials fails the same way again) and TLS
 * failures (an untrusted certificate does not heal). Waits double from {@code initialDelay} up to
 * {@link #MAX_DELAY}, so {@code retries} retries span about {@code initialDelay * 2^retries}; each
 * wait is drawn from its upper half at random ("equal jitter"), so that the documents of requests
 * rejected together do not all come back at the same instant and get rejected together again.
 */
record RetryPolicy(int retries, Duration initialDelay) {

    static final Duration MAX_DELAY = Duration.ofSeconds(30);

    RetryPolicy {
        if (retries < 0) {
            throw new IllegalArgumentException("retries must be >= 0, got [" + retries + "]");
        }
        if (initialDelay.isNegative() || initialDelay.isZero()) {
            throw new IllegalArgumentException("the initial delay must be positive, got [" + initialDelay + "]");
        }
    }

    /** All attempts, the first one included. */
    int attempts() {
        return retries + 1;
    }

    /** The longest wait before retry {@code retry} (1 for the first retry): {@code initialDelay * 2^(retry - 1)}, capped. */
    Duration maxDelayBefore(int retry) {
        if (retry < 1) {
            throw new IllegalArgumentException("retries count from [1], got [" + retry + "]");
        }
        int doublings = Math.min(retry - 1, 30);
        long millis = initialDelay.toMillis() << doublings;
        return millis <= 0 || millis > MAX_DELAY.toMillis() ? MAX_DELAY : Duration.ofMillis(millis);
    }

    /** The wait before retry {@code retry}: at random between half of {@link #maxDelayBefore} and all of it. */
    Duration delayBefore(int retry) {
        long max = maxDelayBefore(retry).toMillis();
        return Duration.ofMillis(max - ThreadLocalRandom.current().nextLong(max / 2 + 1));
    }

    static boolean retryableStatus(int status) {
        return status == 429 || status >= 500;
    }

    /** The exception a failed request ended with, without the async wrappers. */
    static Throwable unwrap(Throwable failure) {
        Throwable t = failure;
        while ((t instanceof CompletionException || t instanceof ExecutionException) && t.getCause() != null) {
            t = t.getCause();
        }
        return t;
    }

    static boolean retryable(Throwable failure) {
        Throwable t = unwrap(failure);
        if (t instanceof ElasticsearchException e) {
            return retryableStatus(e.status());
        }
        if (t instanceof TransportException e) {
            return retryableStatus(e.statusCode());
        }
        return t instanceof IOException && !isTls(t);
    }

    /** True for failures below HTTP: no status came back at all. */
    static boolean isConnectionFailure(Throwable failure) {
        Throwable t = unwrap(failure);
        return t instanceof IOException && !(t instanceof TransportException) && !isTls(t);
    }

    private static boolean isTls(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c instanceof SSLException) {
                return true;
            }
        }
        return false;
    }

    /**
     * Runs a synchronous request, retrying as above. When the retries run out on connection
     * failures it throws {@link ClusterUnreachableException}; any other last failure is rethrown.
     */
    <T> T call(String target, Callable<T> request) throws Exception {
        for (int attempt = 1; ; attempt++) {
            try {
                return request.call();
            } catch (Exception e) {
                if (!retryable(e)) {
                    throw e;
                }
                if (attempt == attempts()) {
                    if (isConnectionFailure(e)) {
                        throw new ClusterUnreachableException(target, attempts(), e);
                    }
                    throw e;
                }
                Thread.sleep(delayBefore(attempt).toMillis());
            }
        }
    }
}
