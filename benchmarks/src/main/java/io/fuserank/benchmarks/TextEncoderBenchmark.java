package io.fuserank.benchmarks;

import ai.onnxruntime.OrtException;
import io.fuserank.encoder.Encoding;
import io.fuserank.encoder.ModelBundle;
import io.fuserank.encoder.TextEncoder;
import io.fuserank.encoder.TextTokenizer;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

import java.util.concurrent.TimeUnit;

/**
 * Latency of encoding one query text (cleaning, tokenizing and the text encoder graph): the
 * first step of every search request, before the kNN query can be sent.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@State(Scope.Benchmark)
public class TextEncoderBenchmark {

    /** ONNX Runtime intra-op threads; 0 is one per available core. */
    @Param("0")
    public int threads;

    private TextTokenizer tokenizer;
    private TextEncoder encoder;

    @Setup
    public void open() throws Exception {
        ModelBundle bundle = BenchmarkInputs.loadBundle();
        tokenizer = TextTokenizer.forBundle(bundle);
        encoder = new TextEncoder(bundle, tokenizer, BenchmarkInputs.cpu(threads));
    }

    @TearDown
    public void close() throws OrtException {
        encoder.close();
        tokenizer.close();
    }

    @Benchmark
    public Encoding encodeQuery() throws OrtException {
        return encoder.encode(BenchmarkInputs.QUERY);
    }
}
