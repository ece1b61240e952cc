package io.fuserank.encoder;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtProvider;

import java.io.IOException;
import java.io.InputStream;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.Locale;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Proves that the two native runtimes fuserank depends on load in the current process: ONNX
 * Runtime (creates the process-wide {@link OrtEnvironment}) and the DJL Hugging Face tokenizers
 * (builds a tokenizer from a tiny bundled {@code tokenizer.json} and encodes a probe sentence).
 *
 * <p>Run once at start-up by the Elasticsearch plugin and the CLI so that a missing native library
 * or a missing entitlement shows up as one clear line at start, not as an error on the first
 * search.
 */
public final class NativeRuntimeCheck {

    /** Classpath resource of the probe tokenizer (a 23-token BERT-style WordPiece vocabulary). */
    static final String PROBE_TOKENIZER = "native-check-tokenizer.json";

    /** Exercises lower-casing, punctuation and a WordPiece continuation ({@code squares}). */
    static final String PROBE_TEXT = "A red circle, left of the blue squares.";

    private NativeRuntimeCheck() {}

    /** What the check found; {@link #summary()} is the line logged at start. */
    public record Result(String onnxRuntimeVersion, EnumSet<OrtProvider> onnxProviders, long[] probeTokenIds) {

        public String summary() {
            return String.format(
                Locale.ROOT,
                "native runtimes loaded: onnxruntime %s (providers %s); DJL tokenizers encoded [%s] as %s",
                onnxRuntimeVersion,
                onnxProviders,
                PROBE_TEXT,
                Arrays.toString(probeTokenIds)
            );
        }
    }

    /**
     * Loads both native libraries and runs the probe.
     *
     * @throws IllegalStateException naming the runtime that failed to load, with the cause attached
     */
    public static Result run() {
        OrtEnvironment environment;
        try {
            environment = OrtEnvironment.getEnvironment();
        } catch (LinkageError | RuntimeException e) {
            throw new IllegalStateException("ONNX Runtime native library failed to load: " + e, e);
        }
        long[] ids;
        try {
            ids = withContextClassLoader(NativeRuntimeCheck::encodeProbe);
        } catch (LinkageError | RuntimeException e) {
            throw new IllegalStateException("DJL tokenizers native library failed to load: " + e, e);
        }
        return new Result(environment.getVersion(), OrtEnvironment.getAvailableProviders(), ids);
    }

    private static long[] encodeProbe() {
        try (InputStream json = NativeRuntimeCheck.class.getResourceAsStream(PROBE_TOKENIZER)) {
            if (json == null) {
                throw new IllegalStateException("probe tokenizer [" + PROBE_TOKENIZER + "] is missing from the classpath");
            }
            try (HuggingFaceTokenizer tokenizer = HuggingFaceTokenizer.newInstance(json, Map.of())) {
                Encoding encoding = tokenizer.encode(PROBE_TEXT);
                return encoding.getIds();
            }
        } catch (IOException e) {
            throw new IllegalStateException("cannot read probe tokenizer [" + PROBE_TOKENIZER + "]", e);
        }
    }

    /**
     * DJL finds its native library's version file through the thread context class loader; inside
     * a container with isolated class loaders (an Elasticsearch plugin) that loader does not see
     * DJL's jar, so it is pointed at ours for the duration of the load.
     */
    static <T> T withContextClassLoader(Supplier<T> action) {
        Thread thread = Thread.currentThread();
        ClassLoader previous = thread.getContextClassLoader();
        thread.setContextClassLoader(NativeRuntimeCheck.class.getClassLoader());
        try {
            return action.get();
        } finally {
            thread.setContextClassLoader(previous);
        }
    }
}
