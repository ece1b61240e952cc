package io.fuserank.benchmarks;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
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
import java.io.InputStream;
import java.nio.FloatBuffer;
import java.util.Map;
import java.util.SplittableRandom;
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

    static final String FLOOR_SHAPE = "1024x1024x1024";
    static final String RESOURCE = "/gemm.onnx";

    /** ONNX Runtime intra-op threads; 0 is one per available core. */
    @Param("0")
    public int threads;

    /** {@code MxKxN}: {@code A [M x K]} times {@code B [K x N]}. */
    @Param({FLOOR_SHAPE, "2048x192x768"})
    public String shape;

    private OrtSession session;
    private OnnxTensor a;
    private OnnxTensor b;

    @Setup
    public void open() throws IOException, OrtException {
        GemmShape dims = GemmShape.parse(shape);
        OrtEnvironment environment = OrtEnvironment.getEnvironment();
        try (OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
            options.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
            options.setIntraOpNumThreads(BenchmarkInputs.cpu(threads).intraOpThreads());
            session = environment.createSession(graph(), options);
        }
        SplittableRandom random = new SplittableRandom(0);
        a = OnnxTensor.createTensor(environment, FloatBuffer.wrap(randomFloats(random, dims.m() * dims.k())),
            new long[] {dims.m(), dims.k()});
        b = OnnxTensor.createTensor(environment, FloatBuffer.wrap(randomFloats(random, dims.k() * dims.n())),
            new long[] {dims.k(), dims.n()});
    }

    @TearDown
    public void close() throws OrtException {
        a.close();
        b.close();
        session.close();
    }

    /** Returns the output count so the call has a result; ONNX Runtime runs the product regardless. */
    @Benchmark
    public int matmul() throws OrtException {
        try (OrtSession.Result result = session.run(Map.of("A", a, "B", b))) {
            return result.size();
        }
    }

    private static byte[] graph() throws IOException {
        try (InputStream in = GemmBenchmark.class.getResourceAsStream(RESOURCE)) {
            if (in == null) {
                throw new IOException("resource [" + RESOURCE + "] is missing from the benchmarks jar");
            }
            return in.readAllBytes();
        }
    }

    private static float[] randomFloats(SplittableRandom random, int count) {
        float[] values = new float[count];
        for (int i = 0; i < count; i++) {
            values[i] = (float) (random.nextDouble() * 2 - 1);
        }
        return values;
    }
}
