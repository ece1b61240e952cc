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
import org.openjdk.jmh.infra.Blackhole;

import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Rerank latency: one text query against a window of k image candidates' stored blobs, as the
 * plugin's rescorer scores them (blob decoding included). {@link #singlePairCalls64} scores the
 * same 64 candidates one call each, the per-pair loop of the ALBEF reference code: batching must
 * beat it by a wide margin to justify the batch path.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
public class FusionScorerBenchmark {

    /** Candidates of {@link #singlePairCalls64}. */
    static final int SINGLE_CALLS = 64;

    /** A window of {@code k} candidates in one codec. */
    @State(Scope.Benchmark)
    public static class Window {
        /** ONNX Runtime intra-op threads; 0 is one per available core. */
        @Param("0")
        public int threads;

        @Param({"fp32", "int8"})
        public String codec;

        @Param({"16", "32", "64", "128"})
        public int k;

        FusionFixture fixture;
        List<byte[]> candidates;

        @Setup
        public void open() throws Exception {
            fixture = FusionFixture.open(threads, codec);
            candidates = fixture.window(k);
        }

        @TearDown
        public void close() throws OrtException {
            fixture.close();
        }
    }

    /** {@value #SINGLE_CALLS} candidates, each a list of one. */
    @State(Scope.Benchmark)
    public static class SinglePairs {
        /** ONNX Runtime intra-op threads; 0 is one per available core. */
        @Param("0")
        public int threads;

        @Param({"fp32", "int8"})
        public String codec;

        FusionFixture fixture;
        List<List<byte[]>> calls;

        @Setup
        public void open() throws Exception {
            fixture = FusionFixture.open(threads, codec);
            calls = fixture.window(SINGLE_CALLS).stream().map(List::of).toList();
        }

        @TearDown
        public void close() throws OrtException {
            fixture.close();
        }
    }

    @Benchmark
    public float[] scoreImages(Window state) throws OrtException {
        return state.fixture.scorer().scoreImages(state.fixture.query(), state.candidates);
    }

    @Benchmark
    public void singlePairCalls64(SinglePairs state, Blackhole blackhole) throws OrtException {
        for (List<byte[]> call : state.calls) {
            blackhole.consume(state.fixture.scorer().scoreImages(state.fixture.query(), call));
        }
    }
}
