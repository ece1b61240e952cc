package io.fuserank.encoder;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;

import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The bundle's {@code image_encoder.onnx}: preprocessed pixels in, the normalised ITC embedding
 * (where the model has one) and the image token features out (ALBEF's ViT image encoder, arXiv 2107.07651 §3.1).
 *
 * <p>One ONNX Runtime session, created here once and shared by all threads (sessions are
 * thread-safe); {@link #encode} takes a whole batch in one call, which is what makes bulk
 * indexing fast. Callers that must not lose a whole batch to one bad file preprocess each image
 * themselves with {@link #preprocessor()} and pass the good ones to {@link #encodePixels}.
 */
public final class ImageEncoder implements AutoCloseable {

    private final OrtSession session;
    private final ImagePreprocessor preprocessor;
    private final int embeddingDim;
    private final int layers;
    private final int tokens;
    private final int width;

    public ImageEncoder(ModelBundle bundle, ImagePreprocessor preprocessor, InferenceOptions options) throws OrtException {
        if (preprocessor.height() != bundle.imageSize() || preprocessor.width() != bundle.imageSize()) {
            throw new IllegalArgumentException(String.format(Locale.ROOT,
                "preprocessor size [%d x %d] does not match the bundle's image size [%d]",
                preprocessor.height(), preprocessor.width(), bundle.imageSize()));
        }
        this.preprocessor = preprocessor;
        this.embeddingDim = bundle.hasEmbedding() ? bundle.embeddingDim() : 0;
        this.layers = bundle.featureLayers();
        this.tokens = bundle.imageTokens();
        this.width = bundle.featureWidth();
        this.session = options.open(bundle.graph("image_encoder"));
    }

    public ImagePreprocessor preprocessor() {
        return preprocessor;
    }

    /** Floats of one preprocessed image, {@code 3 x height x width}. */
    public int pixelsPerImage() {
        return preprocessor.pixelsPerImage();
    }

    /** Decodes, preprocesses and encodes encoded image files, in order. */
    public List<Encoding> encode(List<byte[]> images) throws ImageDecodeException, OrtException {
        int per = pixelsPerImage();
        float[] pixels = new float[images.size() * per];
        for (int i = 0; i < images.size(); i++) {
            preprocessor.preprocessInto(images.get(i), pixels, i * per);
        }
        return encodePixels(pixels, images.size());
    }

    /** One file's outcome in {@link #encodeEach}: its encoding, or why it could not be decoded. */
    public record Outcome(Encoding encoding, ImageDecodeException error) {
        public boolean failed() {
            return error != null;
        }
    }

    /**
     * Decodes each file on its own, so that a bad one fails alone, and encodes the good ones in one
     * call: the bulk path of the ingest processor and the CLI.
     */
    public List<Outcome> encodeEach(List<byte[]> images) throws OrtException {
        int per = pixelsPerImage();
        float[] pixels = new float[images.size() * per];
        ImageDecodeException[] errors = new ImageDecodeException[images.size()];
        int good = 0;
        for (int i = 0; i < images.size(); i++) {
            try {
                preprocessor.preprocessInto(images.get(i), pixels, good * per);
                good++;
            } catch (ImageDecodeException e) {
                errors[i] = e;
            }
        }
        List<Encoding> encoded = good == 0 ? List.of()
            : encodePixels(good == images.size() ? pixels : Arrays.copyOf(pixels, good * per), good);
        List<Outcome> out = new ArrayList<>(images.size());
        int next = 0;
        for (ImageDecodeException error : errors) {
            out.add(error != null ? new Outcome(null, error) : new Outcome(encoded.get(next++), null));
        }
        return out;
    }

    /** Encodes {@code count} preprocessed images laid out back to back in {@code pixels}. */
    public List<Encoding> encodePixels(float[] pixels, int count) throws OrtException {
        int imageHeight = preprocessor.height();
        int imageWidth = preprocessor.width();
        if (count < 1 || pixels.length != count * pixelsPerImage()) {
            throw new IllegalArgumentException(String.format(Locale.ROOT,
                "[%d] pixel values do not hold [%d] images of [3 x %d x %d]", pixels.length, count, imageHeight, imageWidth));
        }
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OnnxTensor input = OnnxTensor.createTensor(env, FloatBuffer.wrap(pixels), new long[] {count, 3, imageHeight, imageWidth});
             OrtSession.Result result = session.run(Map.of("pixels", input))) {
            FloatBuffer embeddings = embeddingDim > 0 ? floats(result, "embedding") : null;
            FloatBuffer features = floats(result, "token_features");
            int perImage = layers * tokens * width;
            List<Encoding> out = new ArrayList<>(count);
            for (int i = 0; i < count; i++) {
                float[] embedding = embeddings == null ? null : new float[embeddingDim];
                if (embeddings != null) {
                    embeddings.get(i * embeddingDim, embedding);
                }
                float[] values = new float[perImage];
                features.get(i * perImage, values);
                out.add(new Encoding(embedding, new TokenFeatures(layers, tokens, width, values)));
            }
            return out;
        }
    }

    static FloatBuffer floats(OrtSession.Result result, String name) throws OrtException {
        return ((OnnxTensor) result.get(name).orElseThrow(
            () -> new IllegalStateException("graph has no output [" + name + "]"))).getFloatBuffer();
    }

    @Override
    public void close() throws OrtException {
        session.close();
    }
}
