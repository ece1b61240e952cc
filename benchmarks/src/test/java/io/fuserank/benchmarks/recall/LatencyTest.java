package io.fuserank.benchmarks.recall;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class LatencyTest {

    @Test
    void nearestRankPercentiles() {
        long[] ascending = new long[100];
        for (int i = 0; i < 100; i++) {
            ascending[i] = (i + 1) * 1_000_000L;  // 1..100 ms
        }
        assertEquals(50_000_000L, Latency.percentile(ascending, 50));
        assertEquals(99_000_000L, Latency.percentile(ascending, 99));
        assertEquals(100_000_000L, Latency.percentile(ascending, 100));
        assertEquals(7L, Latency.percentile(new long[] {7}, 50));
        assertThrows(IllegalArgumentException.class, () -> Latency.percentile(ascending, 0));
    }

    @Test
    void summaryIsInMillisecondsAndQpsIsQueriesOverWallTime() {
        Latency latency = Latency.of(new long[] {3_000_000L, 1_000_000L, 2_000_000L, 4_000_000L}, 2.0);
        assertEquals(2.0, latency.p50Ms(), 1e-9);
        assertEquals(4.0, latency.p99Ms(), 1e-9);
        assertEquals(2.0, latency.qps(), 1e-9);
    }
}
