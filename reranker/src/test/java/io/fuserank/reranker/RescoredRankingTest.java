package io.fuserank.reranker;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The window sorted by final score, the hits below it capped under the window in their first-stage order. */
class RescoredRankingTest {

    private static final ScoreFormula ITM = new ScoreFormula(ScoreMode.ITM, 1, 1, 1);

    @Test
    void theWindowIsSortedByScoreWithTiesByKey() {
        RescoredRanking ranking = RescoredRanking.rank(ITM, new float[] {3f, 2f, 1f}, new float[] {0.5f, 4f, 0.5f}, new int[] {9, 1, 2});
        assertArrayEquals(new int[] {1, 2, 0}, ranking.order());
        assertArrayEquals(new float[] {4f, 0.5f, 0.5f}, ranking.scores());
    }

    @Test
    void hitsBelowTheWindowAreCappedUnderItsLowestScoreInTheirOrder() {
        RescoredRanking ranking = RescoredRanking.rank(ITM, new float[] {9f, 8f, 7f, 0.1f, 6f}, new float[] {2f, 0.5f}, new int[] {0, 1});
        assertArrayEquals(new int[] {0, 1, 2, 3, 4}, ranking.order());
        float justBelow = Math.nextDown(0.5f);
        assertArrayEquals(new float[] {2f, 0.5f, justBelow, 0.1f, 0.1f}, ranking.scores());
    }

    @Test
    void hitsBelowAWindowOfLowScoresNeverGoBelowZeroNorAboveTheOneBefore() {
        RescoredRanking ranking = RescoredRanking.rank(new ScoreFormula(ScoreMode.BLEND, 0.5f, 1, 1), new float[] {5f, 0.4f, 0.2f},
            new float[] {0f}, new int[] {0});
        assertArrayEquals(new float[] {0f, 0f, 0f}, ranking.scores());
        ranking = RescoredRanking.rank(new ScoreFormula(ScoreMode.BLEND, 0.5f, 1, 1), new float[] {5f, 0.4f, 0.2f},
            new float[] {3f}, new int[] {0});
        assertArrayEquals(new float[] {3f, 0.2f, 0.1f}, ranking.scores());
    }

    @Test
    void theResultIsAlwaysSortedByScore() {
        Random random = new Random(19);
        for (int run = 0; run < 200; run++) {
            int n = 1 + random.nextInt(20);
            int window = 1 + random.nextInt(n);
            float[] first = new float[n];
            for (int i = 0; i < n; i++) {
                first[i] = random.nextFloat() * 10;
            }
            float[] windowScores = new float[window];
            int[] keys = new int[window];
            for (int i = 0; i < window; i++) {
                windowScores[i] = ScoreFormula.nonNegative((random.nextFloat() - 0.5f) * 20);
                keys[i] = i;
            }
            RescoredRanking ranking = RescoredRanking.rank(ITM, first, windowScores, keys);
            for (int r = 1; r < n; r++) {
                assertTrue(ranking.scores()[r - 1] >= ranking.scores()[r], "run " + run + " rank " + r);
            }
            assertEquals(n, java.util.Arrays.stream(ranking.order()).distinct().count());
        }
    }
}
