package io.fuserank.encoder;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;

import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.LinkedHashMap;
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
    private final int width;

    public ImageEncoder(ModelBundle bundle, ImagePreprocessor preprocessor, InferenceOptions options) throws OrtException {
        if (preprocessor.variableSize() == false
            && (preprocessor.height() != bundle.imageSize() || preprocessor.width() != bundle.imageSize())) {
            throw new IllegalArgumentException(String.format(Locale.ROOT,
                "preprocessor size [%d x %d] does not match the bundle's image size [%d]",
                preprocessor.height(), preprocessor.width(), bundle.imageSize()));
        }
        this.preprocessor = preprocessor;
        this.embeddingDim = bundle.hasEmbedding() ? bundle.embeddingDim() : 0;
        this.layers = bundle.featureLayers();
        this.width = bundle.featureWidth();
        this.session = options.open(bundle, "image_encoder");
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
        if (preprocessor.variableSize()) {
            List<ImagePreprocessor.Pixels> pixels = new ArrayList<>(images.size());
            for (byte[] image : images) {
                pixels.add(preprocessor.preprocessSized(image));
            }
            return encodeSized(pixels);
        }
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
     * call (one call per input size where the model's inputs vary): the bulk path of the ingest
     * processor and the CLI.
     */
    public List<Outcome> encodeEach(List<byte[]> images) throws OrtException {
        ImageDecodeException[] errors = new ImageDecodeException[images.size()];
        List<Encoding> encoded;
        if (preprocessor.variableSize()) {
            List<ImagePreprocessor.Pixels> good = new ArrayList<>(images.size());
            for (int i = 0; i < images.size(); i++) {
                try {
                    good.add(preprocessor.preprocessSized(images.get(i)));
                } catch (ImageDecodeException e) {
                    errors[i] = e;
                }
            }
            encoded = encodeSized(good);
        } else {
            int per = pixelsPerImage();
            float[] pixels = new float[images.size() * per];
            int good = 0;
            for (int i = 0; i < images.size(); i++) {
                try {
                    preprocessor.preprocessInto(images.get(i), pixels, good * per);
                    good++;
                } catch (ImageDecodeException e) {
                    errors[i] = e;
                }
            }
            encoded = good == 0 ? List.of()
                : encodePixels(good == images.size() ? pixels : Arrays.copyOf(pixels, good * per), good);
        }
        List<Outcome> out = new ArrayList<>(images.size());
        int next = 0;
        for (ImageDecodeException error : errors) {
            out.add(error != null ? new Outcome(null, error) : new Outcome(encoded.get(next++), null));
        }
        return out;
    }

    /** Encodes {@code count} preprocessed images laid out back to back in {@code pixels}. */
    public List<Encoding> encodePixels(float[] pixels, int count) throws OrtException {
        pixelsPerImage(); // refuses a model whose inputs vary in size
        return encodePixels(pixels, count, preprocessor.height(), preprocessor.width());
    }

    /**
     * Images of varying sizes, in order, in one graph call per size (a batch holds one size, as
     * ViLT's processor pads a batch to its largest image and masks the padding; unpadded, each
     * image's pixel mask is all ones and the graph needs none).
     */
    private List<Encoding> encodeSized(List<ImagePreprocessor.Pixels> images) throws OrtException {
        Encoding[] out = new Encoding[images.size()];
        Map<List<Integer>, List<Integer>> bySize = new LinkedHashMap<>();
        for (int i = 0; i < images.size(); i++) {
            bySize.computeIfAbsent(List.of(images.get(i).height(), images.get(i).width()), k -> new ArrayList<>()).add(i);
        }
        for (Map.Entry<List<Integer>, List<Integer>> group : bySize.entrySet()) {
            int h = group.getKey().get(0);
            int w = group.getKey().get(1);
            List<Integer> members = group.getValue();
            float[] pixels = new float[members.size() * 3 * h * w];
            for (int k = 0; k < members.size(); k++) {
                System.arraycopy(images.get(members.get(k)).values(), 0, pixels, k * 3 * h * w, 3 * h * w);
            }
            List<Encoding> encoded = encodePixels(pixels, members.size(), h, w);
            for (int k = 0; k < members.size(); k++) {
                out[members.get(k)] = encoded.get(k);
            }
        }
        return Arrays.asList(out);
    }

    private List<Encoding> encodePixels(float[] pixels, int count, int imageHeight, int imageWidth) throws OrtException {
        if (count < 1 || pixels.length != count * 3 * imageHeight * imageWidth) {
            throw new IllegalArgumentException(String.format(Locale.ROOT,
                "[%d] pixel values do not hold [%d] images of [3 x %d x %d]", pixels.length, count, imageHeight, imageWidth));
        }
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OnnxTensor input = OnnxTensor.createTensor(env, FloatBuffer.wrap(pixels), new long[] {count, 3, imageHeight, imageWidth});
             OrtSession.Result result = session.run(Map.of("pixels", input))) {
            FloatBuffer embeddings = embeddingDim > 0 ? floats(result, "embedding") : null;
            OnnxTensor featureTensor = (OnnxTensor) result.get("token_features").orElseThrow(
                () -> new IllegalStateException("graph has no output [token_features]"));
            FloatBuffer features = featureTensor.getFloatBuffer();
            // The graph's own row count: fixed for most models, the patch grid's for a model whose inputs vary.
            int tokens = (int) (featureTensor.getInfo().getShape()[1] / layers);
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
