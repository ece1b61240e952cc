package io.fuserank.tools;

import ai.onnxruntime.OrtException;
import io.fuserank.encoder.DocumentStorage;
import io.fuserank.encoder.FeatureCodec;
import io.fuserank.encoder.ImageEncoder;
import io.fuserank.encoder.ImagePreprocessor;
import io.fuserank.encoder.InferenceOptions;
import io.fuserank.encoder.ModelBundle;
import io.fuserank.encoder.Precision;
import io.fuserank.encoder.TextEncoder;
import io.fuserank.encoder.TextTokenizer;

/**
 * Picks the {@link DocumentFactory} for a run of {@code fuserank index} from the kind indexed and
 * where encoding happens, and opens the encoder a client-side factory owns: the one place that
 * knows the four combinations, so the command and {@link IndexRun} stay the same for all of them.
 */
final class DocumentFactories {

    private DocumentFactories() {
    }

    /**
     * @param bundle  the model to encode with here, or null for {@code --server-side}
     * @param codec   the token-feature codec (client-side)
     * @param precision which of the bundle's graphs to run, null for its own
     * @param threads the encoding threads; each ONNX call gets a share of the cores so they do not oversubscribe them
     * @param clock   encoder timing (client-side)
     */
    static DocumentFactory<?> open(IndexKind kind, ModelBundle bundle, FeatureCodec codec, boolean cuda, Precision precision, int threads,
                                   ImagePreprocessor.Limits limits, Tally tally, EncoderClock clock) throws OrtException {
        if (bundle == null) {
            return kind == IndexKind.CAPTION ? new ServerSideCaptions() : new ServerSideDocuments(limits.maxEncodedBytes(), tally);
        }
        // One ONNX session for all threads.
        InferenceOptions options = new InferenceOptions(Math.max(1, Runtime.getRuntime().availableProcessors() / threads), cuda, 0, precision);
        if (kind == IndexKind.CAPTION) {
            TextTokenizer tokenizer = TextTokenizer.forBundle(bundle);
            try {
                return new ClientSideCaptions(new TextEncoder(bundle, tokenizer, options), DocumentStorage.of(bundle), codec, tally, clock);
            } catch (OrtException | RuntimeException e) {
                tokenizer.close();
                throw e;
            }
        }
        ImagePreprocessor preprocessor = ImagePreprocessor.fromManifest(bundle.manifest().get("image"), limits);
        return new ClientSideDocuments(new ImageEncoder(bundle, preprocessor, options), DocumentStorage.of(bundle), codec, limits.maxEncodedBytes(), tally, clock);
    }
}
