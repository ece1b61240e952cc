package io.fuserank.encoder;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;

import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The bundle's {@code text_encoder.onnx}: texts in (cleaned and tokenized by
 * {@link TextTokenizer}), the normalised ITC embedding (where the model has one) and the text token features out (ALBEF's
 * first text layers, arXiv 2107.07651 §3.1), where the graph has a {@code token_features} output,
 * and each text's token ids. Features and ids keep only real tokens: padding is cut off per text,
 * so a stored caption blob or a query's features never carry pad rows. A graph without
 * {@code token_features} (an imported BLIP text encoder, whose ITM reads the ids) gives encodings
 * with null features.
 *
 * <p>One shared, thread-safe ONNX Runtime session.
 */
public final class TextEncoder implements AutoCloseable {

    private final OrtSession session;
    private final TextTokenizer tokenizer;
    private final int embeddingDim;
    private final int layers;
    private final int width;
    private final boolean hasFeatures;

    public TextEncoder(ModelBundle bundle, TextTokenizer tokenizer, InferenceOptions options) throws OrtException {
        this.tokenizer = tokenizer;
        this.embeddingDim = bundle.hasEmbedding() ? bundle.embeddingDim() : 0;
        this.layers = bundle.featureLayers();
        this.width = bundle.featureWidth();
        this.session = options.open(bundle, "text_encoder");
        this.hasFeatures = session.getOutputNames().contains("token_features");
    }

    /** Whether the encodings carry token features (the graph has a {@code token_features} output). */
    public boolean hasTokenFeatures() {
        return hasFeatures;
    }

    public TextTokenizer tokenizer() {
        return tokenizer;
    }

    public Encoding encode(String text) throws OrtException {
        return encode(List.of(text)).get(0);
    }

    /** Encodes texts in one call; an empty or over-long text is an IllegalArgumentException naming it. */
    public List<Encoding> encode(List<String> texts) throws OrtException {
        return encode(tokenizer.encodeBatch(texts));
    }

    /** One text's outcome in {@link #encodeEach}: its encoding, or why the tokenizer rejected it. */
    public record Outcome(Encoding encoding, IllegalArgumentException error) {
        public boolean failed() {
            return error != null;
        }
    }

    /**
     * Checks each text on its own, so that an empty or over-long one fails alone instead of
     * failing the whole batch as {@link #encode(List)} does, and encodes the good ones in one
     * call: the bulk path of the CLI's {@code index} and {@code encode} commands.
     */
    public List<Outcome> encodeEach(List<String> texts) throws OrtException {
        IllegalArgumentException[] errors = new IllegalArgumentException[texts.size()];
        List<String> good = new ArrayList<>(texts.size());
        for (int i = 0; i < texts.size(); i++) {
            try {
                tokenizer.validate(texts.get(i));
                good.add(texts.get(i));
            } catch (IllegalArgumentException e) {
                errors[i] = e;
            }
        }
        List<Encoding> encoded = good.isEmpty() ? List.of() : encode(good);
        List<Outcome> out = new ArrayList<>(texts.size());
        int next = 0;
        for (IllegalArgumentException error : errors) {
            out.add(error != null ? new Outcome(null, error) : new Outcome(encoded.get(next++), null));
        }
        return out;
    }

    /** Encodes an already tokenized batch (the parity tests feed the reference ids). */
    public List<Encoding> encode(TextTokenizer.Batch batch) throws OrtException {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        long[] shape = {batch.rows(), batch.length()};
        try (OnnxTensor ids = OnnxTensor.createTensor(env, LongBuffer.wrap(batch.ids()), shape);
             OnnxTensor mask = OnnxTensor.createTensor(env, LongBuffer.wrap(batch.mask()), shape);
             OrtSession.Result result = session.run(Map.of("input_ids", ids, "attention_mask", mask))) {
            FloatBuffer embeddings = embeddingDim > 0 ? ImageEncoder.floats(result, "embedding") : null;
            FloatBuffer features = hasFeatures ? ImageEncoder.floats(result, "token_features") : null;
            int padded = batch.length();
            List<Encoding> out = new ArrayList<>(batch.rows());
            for (int row = 0; row < batch.rows(); row++) {
                float[] embedding = embeddings == null ? null : new float[embeddingDim];
                if (embeddings != null) {
                    embeddings.get(row * embeddingDim, embedding);
                }
                int real = batch.tokens(row);
                long[] rowIds = java.util.Arrays.copyOfRange(batch.ids(), row * padded, row * padded + real);
                out.add(new Encoding(embedding, features == null ? null : features(features, row, padded, real), rowIds));
            }
            return out;
        }
    }

    /** One row's features, its {@code real} tokens of each layer out of {@code padded}. */
    private TokenFeatures features(FloatBuffer features, int row, int padded, int real) {
        float[] values = new float[layers * real * width];
        for (int layer = 0; layer < layers; layer++) {
            int from = ((row * layers + layer) * padded) * width;
            features.get(from, values, layer * real * width, real * width);
        }
        return new TokenFeatures(layers, real, width, values);
    }

    @Override
    public void close() throws OrtException {
        session.close();
    }
}
