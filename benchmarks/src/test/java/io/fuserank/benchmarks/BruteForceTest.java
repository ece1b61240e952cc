package io.fuserank.benchmarks;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Exact top-k on a tiny hand-built set of unit vectors whose dot products are known. */
class BruteForceTest {

    private static final float H = (float) Math.sqrt(0.5);

    /** 2-d unit vectors at 0, 45, 90, 135, 180, 270 degrees: ids 0..5. */
    private static final List<float[]> CIRCLE = List.of(
        new float[] {1, 0}, new float[] {H, H}, new float[] {0, 1}, new float[] {-H, H}, new float[] {-1, 0}, new float[] {0, -1});

    @Test
    void topKIsOrderedByDotProduct() {
        BruteForce exact = new BruteForce(CIRCLE);
        // query at 0 degrees: 1 (id 0), 0.707 (id 1), 0 (ids 2 and 5, tie), -0.707 (id 3), -1 (id 4)
        assertArrayEquals(new int[] {0, 1, 2, 5, 3, 4}, exact.topK(new float[] {1, 0}, 6));
        assertArrayEquals(new int[] {0, 1}, exact.topK(new float[] {1, 0}, 2));
        // query at 90 degrees: id 2 first, then ids 1 and 3 (tie, lower id first)
        assertArrayEquals(new int[] {2, 1, 3}, exact.topK(new float[] {0, 1}, 3));
        // query at 270 degrees
        assertArrayEquals(new int[] {5}, exact.topK(new float[] {0, -1}, 1));
    }

    @Test
    void kAboveTheSizeReturnsEveryId() {
        BruteForce exact = new BruteForce(CIRCLE.subList(0, 3));
        assertArrayEquals(new int[] {1, 0, 2}, exact.topK(new float[] {H, H}, 10));
        assertEquals(3, exact.size());
        assertEquals(2, exact.dims());
    }

    @Test
    void dimsOtherThanMultiplesOfFourAreSummedWhole() {
        // 5 dims: the unrolled loop's tail; id 1 wins by the fifth component alone
        BruteForce exact = new BruteForce(List.of(
            new float[] {0.5f, 0.5f, 0.5f, 0.5f, 0f}, new float[] {0.5f, 0.5f, 0.5f, 0.4f, 0.3f}, new float[] {0, 0, 0, 0, 1}));
        assertArrayEquals(new int[] {2, 1, 0}, exact.topK(new float[] {0, 0, 0, 0, 1}, 3));
        assertArrayEquals(new int[] {0, 1, 2}, exact.topK(new float[] {0.5f, 0.5f, 0.5f, 0.5f, 0f}, 3));
    }

    @Test
    void tiesKeepTheLowerIdFirstAndScoresListEveryVector() {
        BruteForce five = new BruteForce(List.of(new float[] {0.1f}, new float[] {0.5f}, new float[] {0.5f},
            new float[] {0.9f}, new float[] {0.0f}));
        assertArrayEquals(new int[] {3, 1, 2}, five.topK(new float[] {1}, 3));
        assertArrayEquals(new int[] {1, 0}, new BruteForce(List.of(new float[] {0.2f}, new float[] {0.3f})).topK(new float[] {1}, 10));
        assertArrayEquals(new float[] {0.1f, 0.5f, 0.5f, 0.9f, 0.0f}, five.scores(new float[] {1}), 1e-6f);
    }

    @Test
    void mismatchedDimsAreRejected() {
        assertThrows(IllegalArgumentException.class, () -> new BruteForce(List.of(new float[] {1, 0}, new float[] {1})));
        assertThrows(IllegalArgumentException.class, () -> new BruteForce(List.of()));
        assertThrows(IllegalArgumentException.class, () -> new BruteForce(CIRCLE).topK(new float[] {1, 0, 0}, 1));
    }
}
