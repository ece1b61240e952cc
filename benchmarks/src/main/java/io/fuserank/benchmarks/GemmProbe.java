package io.fuserank.benchmarks;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;

import java.io.IOException;
import java.io.InputStream;
import java.nio.FloatBuffer;
import java.util.Arrays;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * One fp32 MatMul through ONNX Runtime ({@code gemm.onnx}, written by
 * {@code encoder/training/tools/make_gemm_onnx.py}) with the models' session options: the
 * machine's GEMM rate from the same MLAS kernels and thread pool the encoders use. The JMH
 * {@link GemmBenchmark} times {@link #run()}; the recall harness calls {@link #measureGflops} to
 * state the rescorer's time as a multiple of its FLOP floor in the same run.
 */
public final class GemmProbe implements AutoCloseable {

    public static final String FLOOR_SHAPE = "1024x1024x1024";
    static final String RESOURCE = "/gemm.onnx";

    private final GemmShape shape;
    private final OrtSession session;
    private final OnnxTensor a;
    private final OnnxTensor b;

    public GemmProbe(String shape, int intraOpThreads) throws IOException, OrtException {
        this.shape = GemmShape.parse(shape);
        OrtEnvironment environment = OrtEnvironment.getEnvironment();
        try (OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
            options.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
            options.setIntraOpNumThreads(intraOpThreads);
            session = environment.createSession(graph(), options);
        }
        SplittableRandom random = new SplittableRandom(0);
        a = OnnxTensor.createTensor(environment, FloatBuffer.wrap(randomFloats(random, this.shape.m() * this.shape.k())),
            new long[] {this.shape.m(), this.shape.k()});
        b = OnnxTensor.createTensor(environment, FloatBuffer.wrap(randomFloats(random, this.shape.k() * this.shape.n())),
            new long[] {this.shape.k(), this.shape.n()});
    }

    /** One product; returns the output count so the call has a result. */
    public int run() throws OrtException {
        try (OrtSession.Result result = session.run(Map.of("A", a, "B", b))) {
            return result.size();
        }
    }

    /** GFLOP/s of the median of {@code repeats} timed products, after {@code warmups} untimed ones. */
    public double measureGflops(int warmups, int repeats) throws OrtException {
        for (int i = 0; i < warmups; i++) {
            run();
        }
        long[] nanos = new long[repeats];
        for (int i = 0; i < repeats; i++) {
            long start = System.nanoTime();
            run();
            nanos[i] = System.nanoTime() - start;
        }
        Arrays.sort(nanos);
        return RuntimeSummary.gflops(shape.flops(), nanos[repeats / 2] / 1e9);
    }

    @Override
    public void close() throws OrtException {
        a.close();
        b.close();
        session.close();
    }

    private static byte[] graph() throws IOException {
        try (InputStream in = GemmProbe.class.getResourceAsStream(RESOURCE)) {
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
