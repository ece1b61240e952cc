package io.fuserank.plugin.model;

import io.fuserank.encoder.MemoryBudget;
import org.elasticsearch.common.breaker.CircuitBreaker;
import org.elasticsearch.common.breaker.CircuitBreakingException;

import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A {@link MemoryBudget} kept by an Elasticsearch circuit breaker (the plugin's
 * {@code fuserank} breaker): a reservation that would pass the breaker's limit, or the parent
 * breaker's, is refused with the breaker's {@link CircuitBreakingException}, which clients
 * receive as a 429 {@code circuit_breaking_exception}; the breaker's used bytes and trip count show
 * in the node stats.
 */
public final class BreakerMemoryBudget implements MemoryBudget {

    private final CircuitBreaker breaker;

    public BreakerMemoryBudget(CircuitBreaker breaker) {
        this.breaker = breaker;
    }

    /** @throws CircuitBreakingException when the bytes would pass the limit; nothing is added then */
    @Override
    public Reservation reserve(long bytes, String what) {
        breaker.addEstimateBytesAndMaybeBreak(bytes, what);
        AtomicBoolean open = new AtomicBoolean(true);
        return () -> {
            if (open.compareAndSet(true, false)) {
                breaker.addWithoutBreaking(-bytes);
            }
        };
    }
}
