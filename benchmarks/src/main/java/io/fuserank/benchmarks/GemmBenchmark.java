package io.fuserank.benchmarks;

import ai.onnxruntime.OrtException;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

import java.io.IOException;
import java.util.concurrent.TimeUnit;

/**
 * The machine's fp32 GEMM rate through ONNX Runtime itself: one MatMul of two graph inputs
 * ({@code gemm.onnx}, written by {@code encoder/training/tools/make_gemm_onnx.py}), so the rate
 * comes from the same MLAS kernels, thread pool and session options as the models' (those of
 * {@link io.fuserank.encoder.InferenceOptions#open}). GFLOP/s is {@code 2 M N K} over the time.
 *
 * <p>{@value #FLOOR_SHAPE} is the reference rate the fusion scorer is compared with; the second
 * shape is the fusion encoder's FFN at k = 64 (64 pairs of 32 text tokens, width 192, hidden
 * 768), to show how far the small matrices of the real model fall short of it.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@State(Scope.Benchmark)
public class GemmBenchmark {

    static final String FLOOR_SHAPE = GemmProbe.FLOOR_SHAPE;

    /** ONNX Runtime intra-op threads; 0 is one per available core. */
    @Param("0")
    public int threads;

    /** {@code MxKxN}: {@code A [M x K]} times {@code B [K x N]}. */
    @Param({FLOOR_SHAPE, "2048x192x768"})
    public String shape;

    private GemmProbe probe;

    @Setup
    public void open() throws IOException, OrtException {
        probe = new GemmProbe(shape, BenchmarkInputs.cpu(threads).intraOpThreads());
    }

    @TearDown
    public void close() throws OrtException {
        probe.close();
    }

    /** Returns the output count so the call has a result; ONNX Runtime runs the product regardless. */
    @Benchmark
    public int matmul() throws OrtException {
        return probe.run();
    }
}
