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
 * One MatMul through ONNX Runtime with the models' session options: the machine's GEMM rate from
 * the same MLAS kernels and thread pool the encoders use, in fp32 ({@code gemm.onnx}) or int8
 * ({@code gemm_int8.onnx}: int8 weights of a fixed 1024 x 1024 matrix, the activations quantized
 * per call, as a bundle's int8 graphs run), both written by
 * {@code encoder/training/tools/make_gemm_onnx.py}. The JMH
 * {@link GemmBenchmark} times {@link #run()}; the recall harness calls {@link #measureGflops} to
 * state the rescorer's time as a multiple of its FLOP floor in the same run.
 */
public final class GemmProbe implements AutoCloseable {

    public static final String FLOOR_SHAPE = "1024x1024x1024";
    static final String RESOURCE = "/gemm.onnx";
    static final String INT8_RESOURCE = "/gemm_int8.onnx";
    /** The int8 graph's fixed weight: K x N. */
    static final int INT8_SIDE = 1024;

    private final GemmShape shape;
    private final OrtSession session;
    private final OnnxTensor a;
    private final OnnxTensor b;

    /** The fp32 probe. */
    public GemmProbe(String shape, int intraOpThreads) throws IOException, OrtException {
        this(shape, intraOpThreads, false);
    }

    /** @param int8 the int8 graph, whose shape must be {@code M x 1024 x 1024} */
    public GemmProbe(String shape, int intraOpThreads, boolean int8) throws IOException, OrtException {
        this.shape = GemmShape.parse(shape);
        if (int8 && (this.shape.k() != INT8_SIDE || this.shape.n() != INT8_SIDE)) {
            throw new IllegalArgumentException("the int8 GEMM multiplies by a fixed " + INT8_SIDE + " x " + INT8_SIDE + " weight; shape ["
                + shape + "] is not M x " + INT8_SIDE + " x " + INT8_SIDE);
        }
        OrtEnvironment environment = OrtEnvironment.getEnvironment();
        try (OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
            options.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
            options.setIntraOpNumThreads(intraOpThreads);
            session = environment.createSession(graph(int8 ? INT8_RESOURCE : RESOURCE), options);
        }
        SplittableRandom random = new SplittableRandom(0);
        a = OnnxTensor.createTensor(environment, FloatBuffer.wrap(randomFloats(random, this.shape.m() * this.shape.k())),
            new long[] {this.shape.m(), this.shape.k()});
        b = int8 ? null : OnnxTensor.createTensor(environment, FloatBuffer.wrap(randomFloats(random, this.shape.k() * this.shape.n())),
            new long[] {this.shape.k(), this.shape.n()});
    }

    /** One product; returns the output count so the call has a result. */
    public int run() throws OrtException {
        try (OrtSession.Result result = session.run(b == null ? Map.of("A", a) : Map.of("A", a, "B", b))) {
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
        if (b != null) {
            b.close();
        }
        session.close();
    }

    private static byte[] graph(String resource) throws IOException {
        try (InputStream in = GemmProbe.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new IOException("resource [" + resource + "] is missing from the benchmarks jar");
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
