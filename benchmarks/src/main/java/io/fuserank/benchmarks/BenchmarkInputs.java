package io.fuserank.benchmarks;

import io.fuserank.encoder.ImagePreprocessor;
import io.fuserank.encoder.InferenceOptions;
import io.fuserank.encoder.ModelBundle;
import io.fuserank.encoder.TextTokenizer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * What every benchmark loads the same way, so that the figures are comparable: the bundle named
 * by the system property {@value #BUNDLE_PROPERTY} (the runner passes it to its forks), its
 * reference PNGs as the images, one query caption, and the intra-op thread count.
 */
final class BenchmarkInputs {

    /** System property naming the bundle directory. */
    static final String BUNDLE_PROPERTY = "fuserank.bundle";

    /** The shipped bundle, relative to the benchmarks module. */
    static final String DEFAULT_BUNDLE = "../models/fuserank-small";

    /** A caption in the style of the shipped bundle's training data. */
    static final String QUERY = "a large orange triangle above a large white cross";

    private BenchmarkInputs() {
    }

    static Path bundleDirectory() {
        return Path.of(System.getProperty(BUNDLE_PROPERTY, DEFAULT_BUNDLE));
    }

    static ModelBundle loadBundle() throws ModelBundle.BundleException {
        return ModelBundle.load(bundleDirectory());
    }

    static ImagePreprocessor preprocessor(ModelBundle bundle) {
        return ImagePreprocessor.fromManifest(bundle.manifest().get("image"), ImagePreprocessor.Limits.DEFAULT);
    }

    /** {@code threads} intra-op threads; 0 means one per available core, spelled out rather than left to ONNX Runtime. */
    static InferenceOptions cpu(int threads) {
        return InferenceOptions.cpu(threads == 0 ? Runtime.getRuntime().availableProcessors() : threads);
    }

    /** The bundle's {@code reference/images/*.png} files, in name order. */
    static List<byte[]> referenceImages(ModelBundle bundle) throws IOException {
        Path directory = bundle.directory().resolve("reference").resolve("images");
        List<Path> files;
        try (Stream<Path> listing = Files.list(directory)) {
            files = listing.filter(p -> p.getFileName().toString().endsWith(".png")).sorted().toList();
        }
        if (files.isEmpty()) {
            throw new IOException("bundle has no reference images in [" + directory + "]");
        }
        List<byte[]> images = new ArrayList<>(files.size());
        for (Path file : files) {
            images.add(Files.readAllBytes(file));
        }
        return images;
    }

    /** {@code count} items cycling through {@code items}: a batch of any size from a few distinct inputs. */
    static <T> List<T> repeat(List<T> items, int count) {
        List<T> out = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            out.add(items.get(i % items.size()));
        }
        return out;
    }

    /**
     * {@link #QUERY} repeated until it fills the tokenizer's {@code max_tokens}: the manifest's
     * {@code fusion_flops_per_pair} counts a text of that length, so the fusion benchmarks'
     * FLOP rate is only right for a query of exactly that many tokens (a worst case: real
     * queries are shorter).
     */
    static String fullLengthQuery(TextTokenizer tokenizer) {
        StringBuilder text = new StringBuilder(QUERY);
        while (tokenizer.encode(text.toString()).length < tokenizer.maxTokens()) {
            if (text.length() + QUERY.length() + 1 > TextTokenizer.DEFAULT_MAX_CHARS) {
                throw new IllegalStateException("caption [" + QUERY + "] repeated to [" + text.length()
                    + "] characters still has fewer than the [" + tokenizer.maxTokens() + "] tokens the manifest's FLOP count assumes");
            }
            text.append(' ').append(QUERY);
        }
        return text.toString();
    }
}
