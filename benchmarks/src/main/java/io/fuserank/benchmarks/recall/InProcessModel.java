package io.fuserank.benchmarks.recall;

import ai.onnxruntime.OrtException;
import io.fuserank.encoder.Encoding;
import io.fuserank.encoder.ImageDecodeException;
import io.fuserank.encoder.ImageEncoder;
import io.fuserank.encoder.ImagePreprocessor;
import io.fuserank.encoder.InferenceOptions;
import io.fuserank.encoder.ModelBundle;
import io.fuserank.encoder.Precision;
import io.fuserank.encoder.TextEncoder;
import io.fuserank.encoder.TextTokenizer;
import io.fuserank.reranker.FusionScorer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Objects;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * The bundle's encoders and fusion scorer in this process: the exact-ITC reference (and the ANN
 * comparison) embeds every image and caption with them, and the client-side rerank encodes its queries and scores its hits
 * with them, exactly the library a user without the plugin would call.
 */
public final class InProcessModel implements AutoCloseable {

    private static final int BATCH = 32;

    private final ModelBundle bundle;
    private final TextTokenizer tokenizer;
    private final TextEncoder text;
    private final ImageEncoder images;
    private final FusionScorer scorer;

    private InProcessModel(ModelBundle bundle, TextTokenizer tokenizer, TextEncoder text, ImageEncoder images, FusionScorer scorer) {
        this.bundle = bundle;
        this.tokenizer = tokenizer;
        this.text = text;
        this.images = images;
        this.scorer = scorer;
    }

    public static InProcessModel open(Path directory, int threads, int maxBatch) throws IOException, OrtException {
        return open(directory, threads, maxBatch, null);
    }

    /** @param precision which of the bundle's graphs to run, null for its own (as the node under test runs it) */
    public static InProcessModel open(Path directory, int threads, int maxBatch, Precision precision) throws IOException, OrtException {
        ModelBundle bundle = ModelBundle.load(directory);
        InferenceOptions options = InferenceOptions.cpu(threads).withPrecision(precision);
        TextTokenizer tokenizer = TextTokenizer.forBundle(bundle);
        ImagePreprocessor preprocessor = ImagePreprocessor.fromManifest(bundle.manifest().get("image"), ImagePreprocessor.Limits.DEFAULT);
        return new InProcessModel(bundle, tokenizer, new TextEncoder(bundle, tokenizer, options),
            new ImageEncoder(bundle, preprocessor, options), new FusionScorer(bundle, options, maxBatch));
    }

    ModelBundle bundle() {
        return bundle;
    }

    FusionScorer scorer() {
        return scorer;
    }

    Encoding encodeText(String caption) throws OrtException {
        return text.encode(caption);
    }

    /**
     * Every image's ITC embedding, in split order, with {@code null} for an image the encoder
     * refuses (over a limit, damaged, unreadable): the images the CLI could not index either.
     */
    public ImageEmbeddings imageEmbeddings(EvalSplit split) throws OrtException {
        float[][] out = new float[split.imagePaths().size()][];
        SortedMap<Integer, String> refused = new TreeMap<>();
        for (int start = 0; start < out.length; start += BATCH) {
            List<Integer> batch = new ArrayList<>();
            List<byte[]> bytes = new ArrayList<>();
            for (int i = start; i < Math.min(out.length, start + BATCH); i++) {
                try {
                    bytes.add(Files.readAllBytes(split.imageFile(i)));
                    batch.add(i);
                } catch (IOException e) {
                    refused.put(i, "UNREADABLE: cannot read [" + split.imageFile(i) + "]: " + e.getMessage());
                }
            }
            if (batch.isEmpty()) {
                continue;
            }
            try {
                List<Encoding> encodings = images.encode(bytes);
                for (int b = 0; b < batch.size(); b++) {
                    out[batch.get(b)] = encodings.get(b).embedding();
                }
            } catch (ImageDecodeException batchFailure) {
                // One image spoils its batch: encode them one by one to find which.
                for (int b = 0; b < batch.size(); b++) {
                    try {
                        out[batch.get(b)] = images.encode(List.of(bytes.get(b))).get(0).embedding();
                    } catch (ImageDecodeException e) {
                        refused.put(batch.get(b), e.reason() + ": " + e.getMessage());
                    }
                }
            }
        }
        return new ImageEmbeddings(out, Collections.unmodifiableSortedMap(refused));
    }

    /** {@link #imageEmbeddings}' answer: {@code vectors[i]} null exactly where {@code refused} holds image {@code i}'s reason. */
    public record ImageEmbeddings(float[][] vectors, SortedMap<Integer, String> refused) {
        /** The vectors of the images not refused, in split order (the rows of {@link EvalSplit#without}). */
        public float[][] kept() {
            return Arrays.stream(vectors).filter(Objects::nonNull).toArray(float[][]::new);
        }
    }

    /** Every caption's ITC embedding, in split order. */
    public float[][] captionEmbeddings(List<String> captions) throws OrtException {
        float[][] out = new float[captions.size()][];
        for (int start = 0; start < out.length; start += BATCH) {
            List<Encoding> encodings = text.encode(captions.subList(start, Math.min(out.length, start + BATCH)));
            for (int i = 0; i < encodings.size(); i++) {
                out[start + i] = encodings.get(i).embedding();
            }
        }
        return out;
    }

    @Override
    public void close() throws OrtException {
        try (tokenizer; text; images; scorer) {
            // closes all four, each even if another fails
        }
    }
}
