package io.fuserank.benchmarks;

import ai.onnxruntime.OrtException;
import io.fuserank.encoder.Encoding;
import io.fuserank.encoder.ImageDecodeException;
import io.fuserank.encoder.ImageEncoder;
import io.fuserank.encoder.ModelBundle;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Image encoder throughput, the cost of bulk indexing: calls per second of one batch, so images
 * per second is the score times {@code batch}. {@link #encodePixels} times the ONNX graph alone
 * on already preprocessed pixels; {@link #decodeAndEncode32} adds PNG decoding and
 * preprocessing, to show how much of an indexing batch is spent outside the model.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
public class ImageEncoderBenchmark {

    /** Batch size of {@link #decodeAndEncode32}. */
    static final int FILE_BATCH = 32;

    /** The encoder session and one batch of preprocessed reference images. */
    @State(Scope.Benchmark)
    public static class PixelBatch {
        /** ONNX Runtime intra-op threads; 0 is one per available core. */
        @Param("0")
        public int threads;

        @Param({"1", "8", "32"})
        public int batch;

        ImageEncoder encoder;
        float[] pixels;

        @Setup
        public void open() throws Exception {
            ModelBundle bundle = BenchmarkInputs.loadBundle();
            encoder = new ImageEncoder(bundle, BenchmarkInputs.preprocessor(bundle), BenchmarkInputs.cpu(threads));
            List<byte[]> files = BenchmarkInputs.repeat(BenchmarkInputs.referenceImages(bundle), batch);
            int per = encoder.pixelsPerImage();
            pixels = new float[batch * per];
            for (int i = 0; i < batch; i++) {
                encoder.preprocessor().preprocessInto(files.get(i), pixels, i * per);
            }
        }

        @TearDown
        public void close() throws OrtException {
            encoder.close();
        }
    }

    /** The encoder session and {@value #FILE_BATCH} reference PNG files, still encoded. */
    @State(Scope.Benchmark)
    public static class FileBatch {
        /** ONNX Runtime intra-op threads; 0 is one per available core. */
        @Param("0")
        public int threads;

        ImageEncoder encoder;
        List<byte[]> files;

        @Setup
        public void open() throws Exception {
            ModelBundle bundle = BenchmarkInputs.loadBundle();
            encoder = new ImageEncoder(bundle, BenchmarkInputs.preprocessor(bundle), BenchmarkInputs.cpu(threads));
            files = BenchmarkInputs.repeat(BenchmarkInputs.referenceImages(bundle), FILE_BATCH);
        }

        @TearDown
        public void close() throws OrtException {
            encoder.close();
        }
    }

    @Benchmark
    public List<Encoding> encodePixels(PixelBatch state) throws OrtException {
        return state.encoder.encodePixels(state.pixels, state.batch);
    }

    @Benchmark
    public List<Encoding> decodeAndEncode32(FileBatch state) throws ImageDecodeException, OrtException {
        return state.encoder.encode(state.files);
    }
}
