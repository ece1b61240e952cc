package io.fuserank.benchmarks;

import java.util.Locale;

/**
 * The shape of one matrix product {@code [m x k] x [k x n]}, written {@code "MxKxN"} as the
 * {@link GemmBenchmark} parameter is, and its floating-point operation count.
 */
record GemmShape(int m, int k, int n) {

    GemmShape {
        if (m < 1 || k < 1 || n < 1) {
            throw new IllegalArgumentException(String.format(Locale.ROOT,
                "GEMM dimensions must be positive, got [%d x %d x %d]", m, k, n));
        }
    }

    /** Parses {@code "MxKxN"}, for example {@code "1024x1024x1024"}. */
    static GemmShape parse(String text) {
        String[] parts = text.split("x", -1);
        if (parts.length != 3) {
            throw new IllegalArgumentException("GEMM shape must be [MxKxN], got [" + text + "]");
        }
        try {
            return new GemmShape(Integer.parseInt(parts[0]), Integer.parseInt(parts[1]), Integer.parseInt(parts[2]));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("GEMM shape must be [MxKxN] with integers, got [" + text + "]", e);
        }
    }

    /** A multiply and an add per inner-product term: {@code 2 m n k}. */
    double flops() {
        return 2.0 * m * n * k;
    }

    @Override
    public String toString() {
        return m + "x" + k + "x" + n;
    }
}
