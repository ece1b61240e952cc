package io.fuserank.benchmarks.recall;

import io.fuserank.benchmarks.BruteForce;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

class ExactItcTest {

    @Test
    void scoresAreDotProductsAndTransposeSwapsAxes() {
        float[][] scores = ExactItc.scores(new float[][] {{1, 0}, {0, 1}},
            new BruteForce(List.of(new float[] {1, 0}, new float[] {0.6f, 0.8f}, new float[] {0, -1})));
        assertArrayEquals(new float[] {1f, 0.6f, 0f}, scores[0], 1e-6f);
        assertArrayEquals(new float[] {0f, 0.8f, -1f}, scores[1], 1e-6f);
        assertArrayEquals(new float[] {0.6f, 0.8f}, ExactItc.transpose(scores)[1], 1e-6f);
    }
}
