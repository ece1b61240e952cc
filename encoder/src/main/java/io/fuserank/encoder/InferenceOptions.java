package io.fuserank.encoder;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtProvider;
import ai.onnxruntime.OrtSession;

import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * How ONNX Runtime sessions run: intra-op threads (0 lets ONNX Runtime choose, one per core) and
 * whether to use the CUDA execution provider.
 *
 * <p>CUDA needs the {@code onnxruntime_gpu} build (Maven profile {@code -Pgpu}) and a visible
 * GPU. Asked for where it is missing, sessions fall back to the CPU with one warning per process,
 * so the same configuration runs on a laptop and on a GPU node.
 */
public record InferenceOptions(int intraOpThreads, boolean cuda, int cudaDevice) {

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

    public static InferenceOptions cpu(int intraOpThreads) {
        return new InferenceOptions(intraOpThreads, false, 0);
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
