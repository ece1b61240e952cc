package io.fuserank.benchmarks.recall;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

class ExactItcTest {

    @Test
    void scoresAreDotProductsAndTransposeSwapsAxes() {
        float[][] scores = ExactItc.scores(new float[][] {{1, 0}, {0, 1}}, new float[][] {{1, 0}, {0.6f, 0.8f}, {0, -1}});
        assertArrayEquals(new float[] {1f, 0.6f, 0f}, scores[0], 1e-6f);
        assertArrayEquals(new float[] {0f, 0.8f, -1f}, scores[1], 1e-6f);
        assertArrayEquals(new float[] {0.6f, 0.8f}, ExactItc.transpose(scores)[1], 1e-6f);
    }

    @Test
    void topKIsBestFirstWithTiesByIndex() {
        assertArrayEquals(new int[] {3, 1, 2}, ExactItc.topK(new float[] {0.1f, 0.5f, 0.5f, 0.9f, 0.0f}, 3));
        assertArrayEquals(new int[] {1, 0}, ExactItc.topK(new float[] {0.2f, 0.3f}, 10));
    }

    @Test
    void overlapIsTheShareOfTheExactTopTenFound() {
        float[] row = new float[20];
        for (int i = 0; i < row.length; i++) {
            row[i] = row.length - i;  // exact top-10: 0..9
        }
        int[] halfFound = {0, 1, 2, 3, 4, 15, 16, 17, 18, 19};
        int[] allFound = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0};
        assertEquals(0.75, ExactItc.overlapAt10(new float[][] {row, row}, new int[][] {halfFound, allFound}), 1e-9);
    }
}
