package io.fuserank.benchmarks.recall;

import java.util.Arrays;

/** Latency percentiles (nearest rank, in milliseconds) and throughput of one timed run. */
record Latency(int queries, double p50Ms, double p95Ms, double p99Ms, double qps) {

    static Latency of(long[] nanos, double wallSeconds) {
        if (nanos.length == 0) {
            throw new IllegalArgumentException("no latencies to summarise");
        }
        long[] sorted = nanos.clone();
        Arrays.sort(sorted);
        return new Latency(nanos.length, percentile(sorted, 50) / 1e6, percentile(sorted, 95) / 1e6,
            percentile(sorted, 99) / 1e6, nanos.length / wallSeconds);
    }

    /** The nearest-rank percentile of ascending values: the smallest value with at least p% at or below it. */
    static long percentile(long[] ascending, double p) {
        if (p <= 0 || p > 100) {
            throw new IllegalArgumentException("percentile must be in (0, 100], got [" + p + "]");
        }
        int rank = (int) Math.ceil(p / 100 * ascending.length);
        return ascending[Math.max(0, rank - 1)];
    }
}
