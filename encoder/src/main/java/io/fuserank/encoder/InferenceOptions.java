package io.fuserank.encoder;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtProvider;
import ai.onnxruntime.OrtSession;

import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * How ONNX Runtime sessions run: intra-op threads (0 lets ONNX Runtime choose, one per core),
 * whether to use the CUDA execution provider, and which of a bundle's graphs to run
 * ({@link Precision}; null: the one the bundle's manifest recommends, {@code precisions.default}).
 *
 * <p>CUDA needs the {@code onnxruntime_gpu} build (Maven profile {@code -Pgpu}) and a visible
 * GPU. Asked for where it is missing, sessions fall back to the CPU with one warning per process,
 * so the same configuration runs on a laptop and on a GPU node.
 */
public record InferenceOptions(int intraOpThreads, boolean cuda, int cudaDevice, Precision precision) {

    public static final InferenceOptions CPU = new InferenceOptions(0, false, 0);

    private static final System.Logger LOG = System.getLogger(InferenceOptions.class.getName());
    private static final AtomicBoolean WARNED_NO_CUDA = new AtomicBoolean();

    public InferenceOptions {
        if (intraOpThreads < 0) {
            throw new IllegalArgumentException("intraOpThreads must be >= 0, got [" + intraOpThreads + "]");
        }
        if (cudaDevice < 0) {
            throw new IllegalArgumentException("cudaDevice must be >= 0, got [" + cudaDevice + "]");
        }
    }

    /** The bundle's own precision. */
    public InferenceOptions(int intraOpThreads, boolean cuda, int cudaDevice) {
        this(intraOpThreads, cuda, cudaDevice, null);
    }

    public static InferenceOptions cpu(int intraOpThreads) {
        return new InferenceOptions(intraOpThreads, false, 0);
    }

    /** These options running {@code precision}'s graphs (null: the bundle's default). */
    public InferenceOptions withPrecision(Precision precision) {
        return new InferenceOptions(intraOpThreads, cuda, cudaDevice, precision);
    }

    /** The precision these options run {@code bundle} in: the asked one, else the bundle's default. */
    public Precision precisionFor(ModelBundle bundle) {
        return precision != null ? precision : bundle.defaultPrecision();
    }

    /**
     * Opens the bundle's graph {@code key} in {@link #precisionFor the precision} these options run it in.
     *
     * @throws IllegalArgumentException where the bundle has no graphs of that precision, naming what it has
     */
    public OrtSession open(ModelBundle bundle, String key) throws OrtException {
        return open(bundle.graph(key, precisionFor(bundle)));
    }

    /** True when CUDA was asked for and this ONNX Runtime build offers it. */
    public boolean cudaActive() {
        return cuda && OrtEnvironment.getAvailableProviders().contains(OrtProvider.CUDA);
    }

    /** Opens one graph with these options; the session is thread-safe and meant to be shared. */
    public OrtSession open(Path graph) throws OrtException {
        OrtEnvironment environment = OrtEnvironment.getEnvironment();
        try (OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
            options.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
            if (intraOpThreads > 0) {
                options.setIntraOpNumThreads(intraOpThreads);
            }
            if (cudaActive()) {
                options.addCUDA(cudaDevice);
            } else if (cuda && WARNED_NO_CUDA.compareAndSet(false, true)) {
                LOG.log(System.Logger.Level.WARNING, "CUDA requested but this ONNX Runtime build offers only "
                    + OrtEnvironment.getAvailableProviders() + " (use the onnxruntime_gpu build, Maven profile -Pgpu); running on the CPU");
            }
            return environment.createSession(graph.toString(), options);
        }
    }
}
