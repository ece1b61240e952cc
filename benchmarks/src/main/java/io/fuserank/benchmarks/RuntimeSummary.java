package io.fuserank.benchmarks;

import java.util.Locale;

/**
 * The arithmetic of the model-runtime summary and its two goals, kept apart from JMH and
 * printing so that a unit test can check it on given numbers. All times are in seconds.
 */
final class RuntimeSummary {

    /** One batched call of k = 64 must beat 64 single-pair calls by at least this factor. */
    static final double SPEEDUP_GOAL = 5.0;

    /** Fusion scoring must reach at least this fraction of the machine's GEMM rate. */
    static final double FLOOR_FRACTION_GOAL = 0.30;

    private RuntimeSummary() {
    }

    /** Images per second of a benchmark that encodes {@code batch} images per call. */
    static double imagesPerSecond(double callsPerSecond, int batch) {
        requirePositive("calls per second", callsPerSecond);
        if (batch < 1) {
            throw new IllegalArgumentException("batch must be positive, got [" + batch + "]");
        }
        return callsPerSecond * batch;
    }

    /** How many times faster one batched call is than the single-pair calls scoring the same candidates. */
    static double speedup(double batchedSeconds, double singleCallsSeconds) {
        requirePositive("batched latency", batchedSeconds);
        requirePositive("single-pair calls latency", singleCallsSeconds);
        return singleCallsSeconds / batchedSeconds;
    }

    static double gflops(double flops, double seconds) {
        requirePositive("FLOP count", flops);
        requirePositive("time", seconds);
        return flops / seconds / 1e9;
    }

    /** The fusion encoder's achieved rate scoring {@code k} pairs of {@code flopsPerPair} each in {@code latencySeconds}. */
    static double fusionGflops(int k, long flopsPerPair, double latencySeconds) {
        if (k < 1) {
            throw new IllegalArgumentException("k must be positive, got [" + k + "]");
        }
        return gflops((double) k * flopsPerPair, latencySeconds);
    }

    /** The achieved rate as a fraction of the GEMM floor. */
    static double floorFraction(double achievedGflops, double gemmGflops) {
        requirePositive("achieved GFLOP/s", achievedGflops);
        requirePositive("GEMM GFLOP/s", gemmGflops);
        return achievedGflops / gemmGflops;
    }

    static boolean speedupGoalMet(double speedup) {
        return speedup >= SPEEDUP_GOAL;
    }

    static boolean floorGoalMet(double fraction) {
        return fraction >= FLOOR_FRACTION_GOAL;
    }

    /** What the summary prints next to a goal. */
    static String verdict(boolean met) {
        return met ? "goal met" : "goal missed";
    }

    private static void requirePositive(String what, double value) {
        if (!(value > 0) || Double.isInfinite(value)) {
            throw new IllegalArgumentException(String.format(Locale.ROOT, "%s must be positive and finite, got [%s]", what, value));
        }
    }
}
