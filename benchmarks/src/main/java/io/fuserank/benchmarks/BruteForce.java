package io.fuserank.benchmarks;

import java.util.Arrays;
import java.util.List;

/**
 * Exact top-k by dot product over vectors held in one flat array (row {@code i} is the vector of
 * id {@code i}): the ground truth of the ANN comparison and its latency baseline. The vectors are
 * L2-normalised, so the dot product is the cosine. Ties keep the lower id first.
 */
public final class BruteForce {

    private final float[] matrix;
    private final int dims;
    private final int size;

    public BruteForce(List<float[]> vectors) {
        if (vectors.isEmpty()) {
            throw new IllegalArgumentException("no vectors");
        }
        this.dims = vectors.get(0).length;
        this.size = vectors.size();
        this.matrix = new float[size * dims];
        for (int i = 0; i < size; i++) {
            float[] v = vectors.get(i);
            if (v.length != dims) {
                throw new IllegalArgumentException("vector [" + i + "] has [" + v.length + "] dims, the first has [" + dims + "]");
            }
            System.arraycopy(v, 0, matrix, i * dims, dims);
        }
    }

    public int size() {
        return size;
    }

    int dims() {
        return dims;
    }

    /** The ids of the {@code k} largest dot products with {@code query}, best first. */
    public int[] topK(float[] query, int k) {
        if (query.length != dims) {
            throw new IllegalArgumentException("query has [" + query.length + "] dims, the vectors [" + dims + "]");
        }
        int n = Math.min(k, size);
        int[] ids = new int[n];
        float[] scores = new float[n];
        Arrays.fill(scores, Float.NEGATIVE_INFINITY);
        Arrays.fill(ids, -1);
        for (int i = 0; i < size; i++) {
            float score = dot(query, i * dims);
            if (score > scores[n - 1] || ids[n - 1] < 0) {
                // insertion into the short sorted list; strictly greater keeps the lower id on ties
                int at = n - 1;
                while (at > 0 && (score > scores[at - 1] || ids[at - 1] < 0)) {
                    scores[at] = scores[at - 1];
                    ids[at] = ids[at - 1];
                    at--;
                }
                scores[at] = score;
                ids[at] = i;
            }
        }
        return ids;
    }

    /** Every vector's dot product with {@code query}, by id (the recall harness's exact ITC score rows). */
    public float[] scores(float[] query) {
        if (query.length != dims) {
            throw new IllegalArgumentException("query has [" + query.length + "] dims, the vectors [" + dims + "]");
        }
        float[] out = new float[size];
        for (int i = 0; i < size; i++) {
            out[i] = dot(query, i * dims);
        }
        return out;
    }

    /** Four accumulators: independent chains the CPU overlaps (the JIT keeps float sums in order). */
    private float dot(float[] query, int offset) {
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        int j = 0;
        for (; j + 3 < dims; j += 4) {
            s0 += query[j] * matrix[offset + j];
            s1 += query[j + 1] * matrix[offset + j + 1];
            s2 += query[j + 2] * matrix[offset + j + 2];
            s3 += query[j + 3] * matrix[offset + j + 3];
        }
        for (; j < dims; j++) {
            s0 += query[j] * matrix[offset + j];
        }
        return (s0 + s1) + (s2 + s3);
    }
}
