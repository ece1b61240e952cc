package io.fuserank.benchmarks;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Recall@k, nearest-rank percentiles and the latency summary, on lists and numbers worked out by hand. */
class SearchStatsTest {

    private static final double EPS = 1e-12;

    @Test
    void recallCountsTheExactIdsFoundWhateverTheirOrder() {
        int[] exact = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
        assertEquals(1.0, SearchStats.recallAtK(exact, new int[] {9, 8, 7, 6, 5, 4, 3, 2, 1, 0}, 10), EPS);
        // 7 of the 10 exact ids, three strangers
        assertEquals(0.7, SearchStats.recallAtK(exact, new int[] {0, 1, 2, 3, 4, 5, 6, 40, 41, 42}, 10), EPS);
        assertEquals(0.0, SearchStats.recallAtK(exact, new int[] {10, 11, 12, 13, 14, 15, 16, 17, 18, 19}, 10), EPS);
    }

    @Test
    void recallLooksAtTheFirstKOfEachListOnly() {
        int[] exact = {5, 6, 7, 1, 2};            // exact top-3 = {5, 6, 7}
        int[] found = {5, 1, 2, 6, 7};            // first 3 = {5, 1, 2}: one hit
        assertEquals(1.0 / 3, SearchStats.recallAtK(exact, found, 3), EPS);
    }

    @Test
    void aShortOrRepeatingResultCountsEachExactIdOnce() {
        int[] exact = {3, 1, 4, 5};
        assertEquals(0.5, SearchStats.recallAtK(exact, new int[] {3, 3, 3, 1}, 4), EPS);
        assertEquals(0.25, SearchStats.recallAtK(exact, new int[] {4}, 4), EPS);
        assertEquals(0.0, SearchStats.recallAtK(exact, new int[0], 4), EPS);
    }

    @Test
    void fewerExactIdsThanKMeansRecallOverThoseThereAre() {
        assertEquals(1.0, SearchStats.recallAtK(new int[] {2, 0}, new int[] {0, 2}, 10), EPS);
        assertEquals(0.5, SearchStats.recallAtK(new int[] {2, 0}, new int[] {0, 7}, 10), EPS);
        assertEquals(1.0, SearchStats.recallAtK(new int[0], new int[0], 10), EPS);
    }

    @Test
    void meanRecallAveragesPerQuery() {
        List<int[]> exact = List.of(new int[] {1, 2}, new int[] {3, 4}, new int[] {5, 6}, new int[] {7, 8});
        List<int[]> found = List.of(new int[] {2, 1}, new int[] {3, 9}, new int[] {0, 0}, new int[] {8, 7});
        assertEquals((1.0 + 0.5 + 0.0 + 1.0) / 4, SearchStats.meanRecallAtK(exact, found, 2), EPS);
        assertThrows(IllegalArgumentException.class, () -> SearchStats.meanRecallAtK(exact, found.subList(0, 3), 2));
        assertThrows(IllegalArgumentException.class, () -> SearchStats.meanRecallAtK(List.of(), List.of(), 2));
        assertThrows(IllegalArgumentException.class, () -> SearchStats.recallAtK(new int[] {1}, new int[] {1}, 0));
    }

    @Test
    void percentileIsNearestRank() {
        double[] ten = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
        assertEquals(5, SearchStats.percentile(ten, 50), EPS);     // ceil(0.5 * 10) = 5th
        assertEquals(10, SearchStats.percentile(ten, 95), EPS);    // ceil(9.5) = 10th
        assertEquals(9, SearchStats.percentile(ten, 90), EPS);
        assertEquals(1, SearchStats.percentile(ten, 1), EPS);
        assertEquals(10, SearchStats.percentile(ten, 100), EPS);
        double[] hundred = new double[100];
        for (int i = 0; i < 100; i++) {
            hundred[i] = i + 1;
        }
        assertEquals(50, SearchStats.percentile(hundred, 50), EPS);
        assertEquals(95, SearchStats.percentile(hundred, 95), EPS);
        assertEquals(7, SearchStats.percentile(new double[] {7}, 50), EPS);
        assertThrows(IllegalArgumentException.class, () -> SearchStats.percentile(new double[0], 50));
        assertThrows(IllegalArgumentException.class, () -> SearchStats.percentile(ten, 0));
        assertThrows(IllegalArgumentException.class, () -> SearchStats.percentile(ten, 101));
    }

    @Test
    void meanRecallIsTheShareOfTheExactTopTenFound() {
        int[] exact = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
        int[] halfFound = {0, 1, 2, 3, 4, 15, 16, 17, 18, 19};
        int[] allFound = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0};
        assertEquals(0.75, SearchStats.meanRecallAtK(List.of(exact, exact), List.of(halfFound, allFound), 10), 1e-9);
    }

    @Test
    void nearestRankPercentilesOfMilliseconds() {
        double[] ascending = new double[100];
        for (int i = 0; i < 100; i++) {
            ascending[i] = i + 1;  // 1..100 ms
        }
        assertEquals(99.0, SearchStats.percentile(ascending, 99), EPS);
        assertEquals(100.0, SearchStats.percentile(ascending, 100), EPS);
        SearchStats.Latency latency = SearchStats.Latency.of(new long[] {3_000_000L, 1_000_000L, 2_000_000L, 4_000_000L}, 2_000_000_000L);
        assertEquals(2.0, latency.p50Millis(), EPS);
        assertEquals(4.0, latency.p99Millis(), EPS);
        assertEquals(2.0, latency.qps(), EPS);
        assertEquals(4, latency.queries());
    }

    @Test
    void latencySortsTheTimesAndDividesQueriesByWallTime() {
        // 4 queries of 4, 1, 3, 2 ms (unsorted) in a 20 ms loop
        long[] nanos = {4_000_000, 1_000_000, 3_000_000, 2_000_000};
        SearchStats.Latency latency = SearchStats.Latency.of(nanos, 20_000_000);
        assertEquals(2.0, latency.p50Millis(), EPS);
        assertEquals(4.0, latency.p95Millis(), EPS);
        assertEquals(200.0, latency.qps(), 1e-9);
        assertThrows(IllegalArgumentException.class, () -> SearchStats.Latency.of(new long[0], 1));
        assertThrows(IllegalArgumentException.class, () -> SearchStats.Latency.of(nanos, 0));
    }
}
