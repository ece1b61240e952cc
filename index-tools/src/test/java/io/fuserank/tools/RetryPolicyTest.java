package io.fuserank.tools;

import co.elastic.clients.elasticsearch._types.ElasticsearchException;
import co.elastic.clients.elasticsearch._types.ErrorResponse;
import org.junit.jupiter.api.Test;

import javax.net.ssl.SSLHandshakeException;
import java.net.ConnectException;
import java.time.Duration;
import java.util.concurrent.CompletionException;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RetryPolicyTest {

    private static ElasticsearchException status(int status) {
        return new ElasticsearchException("bulk", ErrorResponse.of(e -> e.status(status).error(c -> c.type("x").reason("y"))));
    }

    @Test
    void delaysDoubleWithJitterInTheirUpperHalfAndAreCapped() {
        RetryPolicy policy = new RetryPolicy(12, Duration.ofMillis(100));
        assertEquals(Duration.ofMillis(100), policy.maxDelayBefore(1));
        assertEquals(Duration.ofMillis(800), policy.maxDelayBefore(4));
        assertEquals(RetryPolicy.MAX_DELAY, policy.maxDelayBefore(12));
        for (int i = 0; i < 100; i++) {
            long delay = policy.delayBefore(4).toMillis();
            assertTrue(delay >= 400 && delay <= 800, "delay " + delay);
        }
        assertEquals(13, policy.attempts());
    }

    @Test
    void tooManyRequestsServerErrorsAndConnectionFailuresAreRetriedOthersNot() {
        assertTrue(RetryPolicy.retryable(status(429)));
        assertTrue(RetryPolicy.retryable(status(503)));
        assertTrue(RetryPolicy.retryable(new CompletionException(new ConnectException("Connection refused"))));
        assertTrue(RetryPolicy.isConnectionFailure(new CompletionException(new ConnectException("Connection refused"))));
        assertFalse(RetryPolicy.retryable(status(400)));
        assertFalse(RetryPolicy.retryable(status(401)));
        assertFalse(RetryPolicy.retryable(new SSLHandshakeException("PKIX path building failed")));
        assertFalse(RetryPolicy.retryable(new IllegalStateException("bug")));
    }

    @Test
    void aCallThatNeverConnectsSaysWhereItTriedAndHowOften() {
        RetryPolicy policy = new RetryPolicy(2, Duration.ofMillis(1));
        AtomicInteger calls = new AtomicInteger();
        ClusterUnreachableException e = assertThrows(ClusterUnreachableException.class, () -> policy.call("http://127.0.0.1:1", () -> {
            calls.incrementAndGet();
            throw new ConnectException("Connection refused");
        }));
        assertEquals(3, calls.get());
        assertEquals("cannot reach [http://127.0.0.1:1] after 3 attempts: ConnectException: Connection refused", e.getMessage());
    }

    @Test
    void aCallRecoversAfterTransientFailuresAndRethrowsPermanentOnesAtOnce() throws Exception {
        RetryPolicy policy = new RetryPolicy(3, Duration.ofMillis(1));
        AtomicInteger calls = new AtomicInteger();
        assertEquals("ok", policy.call("x", () -> {
            if (calls.incrementAndGet() < 3) {
                throw status(429);
            }
            return "ok";
        }));
        calls.set(0);
        assertThrows(ElasticsearchException.class, () -> policy.call("x", () -> {
            calls.incrementAndGet();
            throw status(404);
        }));
        assertEquals(1, calls.get());
    }
}
