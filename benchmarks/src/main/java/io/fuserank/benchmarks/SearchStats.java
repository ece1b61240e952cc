package io.fuserank.benchmarks;

import java.util.Arrays;
import java.util.List;

/**
 * The arithmetic of the ANN comparison and the recall harness, apart from any engine so that unit
 * tests can check it on hand-built lists: recall@k of a result list against the exact one,
 * nearest-rank percentiles and the latency summary of a timed run.
 */
public final class SearchStats {

    private SearchStats() {
    }

    /**
     * The share of the exact top-k ids ({@code exact}, its first {@code k}) found among the first
     * {@code k} ids of {@code found}; order does not matter, a repeated id counts once. 1 when
     * there is nothing to find.
     */
    public static double recallAtK(int[] exact, int[] found, int k) {
        if (k < 1) {
            throw new IllegalArgumentException("k must be positive, got [" + k + "]");
        }
        int wanted = Math.min(k, exact.length);
        if (wanted == 0) {
            return 1.0;
        }
        int[] truth = Arrays.copyOf(exact, wanted);
        Arrays.sort(truth);
        int[] got = Arrays.stream(found).limit(k).distinct().toArray();
        int hits = 0;
        for (int id : got) {
            hits += Arrays.binarySearch(truth, id) >= 0 ? 1 : 0;
        }
        return (double) hits / wanted;
    }

    /** The mean of {@link #recallAtK} over the queries; {@code exact} and {@code found} are per query. */
    public static double meanRecallAtK(List<int[]> exact, List<int[]> found, int k) {
        if (exact.size() != found.size()) {
            throw new IllegalArgumentException("exact results for [" + exact.size() + "] queries but found results for ["
                + found.size() + "]");
        }
        if (exact.isEmpty()) {
            throw new IllegalArgumentException("no queries");
        }
        double sum = 0;
        for (int q = 0; q < exact.size(); q++) {
            sum += recallAtK(exact.get(q), found.get(q), k);
        }
        return sum / exact.size();
    }

    /** The nearest-rank percentile {@code p} (0 < p <= 100) of ascending {@code sorted} values. */
    public static double percentile(double[] sorted, double p) {
        if (sorted.length == 0) {
            throw new IllegalArgumentException("no values");
        }
        if (!(p > 0 && p <= 100)) {
            throw new IllegalArgumentException("percentile must be in (0, 100], got [" + p + "]");
        }
        int rank = (int) Math.ceil(p / 100.0 * sorted.length);
        return sorted[Math.max(0, rank - 1)];
    }

    /** p50, p95 and p99 latency (milliseconds) of one timed run of {@code queries}, and its throughput over the run's wall time. */
    public record Latency(int queries, double p50Millis, double p95Millis, double p99Millis, double qps) {

        /** From per-query times in nanoseconds and the wall time of the whole timed loop. */
        public static Latency of(long[] nanos, long wallNanos) {
            if (nanos.length == 0) {
                throw new IllegalArgumentException("no timed queries");
            }
            if (wallNanos <= 0) {
                throw new IllegalArgumentException("wall time must be positive, got [" + wallNanos + "] ns");
            }
            double[] millis = Arrays.stream(nanos).mapToDouble(n -> n / 1e6).sorted().toArray();
            return new Latency(nanos.length, percentile(millis, 50), percentile(millis, 95), percentile(millis, 99),
                nanos.length / (wallNanos / 1e9));
        }
    }
}
