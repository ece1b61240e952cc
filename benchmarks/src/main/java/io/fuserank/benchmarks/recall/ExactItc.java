package io.fuserank.benchmarks.recall;

import io.fuserank.benchmarks.BruteForce;

/** Exact ITC score matrices over in-process embeddings (normalized, so the dot product is the cosine): the ANN-free reference. */
final class ExactItc {

    private ExactItc() {
    }

    /** {@code [queries][candidates]} dot products. */
    static float[][] scores(float[][] queries, BruteForce candidates) {
        float[][] out = new float[queries.length][];
        for (int q = 0; q < queries.length; q++) {
            out[q] = candidates.scores(queries[q]);
        }
        return out;
    }

    static float[][] transpose(float[][] matrix) {
        int rows = matrix.length;
        int cols = rows == 0 ? 0 : matrix[0].length;
        float[][] out = new float[cols][rows];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                out[c][r] = matrix[r][c];
            }
        }
        return out;
    }
}
