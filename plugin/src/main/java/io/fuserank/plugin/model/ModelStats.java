package io.fuserank.plugin.model;

import java.util.Arrays;
import java.util.concurrent.atomic.LongAdder;

/**
 * Counters of one model's inference calls for {@code GET _fuserank/models}: calls, failures,
 * rejections (inference queue full, or the node's bound on inline calls reached) and latency percentiles over the most recent calls.
 *
 * <p>Percentiles come from a ring of the last {@link #WINDOW} latencies: exact for recent
 * behaviour, constant memory, and no dependency; the ring is guarded by its own lock, held for
 * one array store per call.
 */
public final class ModelStats {

    static final int WINDOW = 1024;

    private final LongAdder calls = new LongAdder();
    private final LongAdder failures = new LongAdder();
    private final LongAdder rejections = new LongAdder();
    private final long[] recentNanos = new long[WINDOW];
    private long recorded;

    public void success(long nanos) {
        calls.increment();
        synchronized (recentNanos) {
            recentNanos[(int) (recorded++ % WINDOW)] = nanos;
        }
    }

    public void failure() {
        calls.increment();
        failures.increment();
    }

    public void rejection() {
        rejections.increment();
    }

    public long calls() {
        return calls.sum();
    }

    public long failures() {
        return failures.sum();
    }

    public long rejections() {
        return rejections.sum();
    }

    /** Latency percentiles in milliseconds (p50, p95, p99) of the recent successful calls; zeros if none. */
    public double[] latencyPercentilesMillis() {
        long[] copy;
        synchronized (recentNanos) {
            copy = Arrays.copyOf(recentNanos, (int) Math.min(recorded, WINDOW));
        }
        if (copy.length == 0) {
            return new double[] {0, 0, 0};
        }
        Arrays.sort(copy);
        return new double[] {percentile(copy, 50), percentile(copy, 95), percentile(copy, 99)};
    }

    /** Nearest-rank percentile. */
    private static double percentile(long[] sorted, int p) {
        int rank = (int) Math.ceil(p / 100.0 * sorted.length);
        return sorted[Math.max(0, rank - 1)] / 1e6;
    }
}
