package io.fuserank.benchmarks.recall;

import java.util.HashSet;
import java.util.Set;

/** Brute-force ITC over in-process embeddings (normalized, so the dot product is the cosine): the ANN-free reference. */
final class ExactItc {

    private ExactItc() {
    }

    /** {@code [queries][candidates]} dot products. */
    static float[][] scores(float[][] queries, float[][] candidates) {
        float[][] out = new float[queries.length][candidates.length];
        for (int q = 0; q < queries.length; q++) {
            for (int c = 0; c < candidates.length; c++) {
                out[q][c] = dot(queries[q], candidates[c]);
            }
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

    /**
     * The ANN loss: the mean share of each query's exact top-10 (by {@code scores}) that its
     * answer's first 10 contain, i.e. recall@10 of the approximate search against exact search.
     */
    static double overlapAt10(float[][] scores, int[][] answers) {
        if (scores.length != answers.length) {
            throw new IllegalArgumentException("[" + scores.length + "] score rows but [" + answers.length + "] answers");
        }
        double total = 0;
        for (int q = 0; q < scores.length; q++) {
            int[] exact = topK(scores[q], 10);
            Set<Integer> found = new HashSet<>();
            for (int i = 0; i < Math.min(10, answers[q].length); i++) {
                found.add(answers[q][i]);
            }
            int hits = 0;
            for (int candidate : exact) {
                hits += found.contains(candidate) ? 1 : 0;
            }
            total += (double) hits / exact.length;
        }
        return total / scores.length;
    }

    /** The {@code k} best indices, best first; equal scores keep the lower index first. */
    static int[] topK(float[] row, int k) {
        int n = Math.min(k, row.length);
        int[] best = new int[n];
        int size = 0;
        for (int j = 0; j < row.length; j++) {
            int position = size;
            while (position > 0 && row[best[position - 1]] < row[j]) {
                position--;
            }
            if (position < n) {
                System.arraycopy(best, position, best, position + 1, Math.min(size, n - 1) - position);
                best[position] = j;
                size = Math.min(size + 1, n);
            }
        }
        return best;
    }

    private static float dot(float[] a, float[] b) {
        float sum = 0;
        for (int i = 0; i < a.length; i++) {
            sum += a[i] * b[i];
        }
        return sum;
    }
}
