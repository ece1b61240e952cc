package io.fuserank.benchmarks;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fuserank.encoder.Encoding;
import io.fuserank.encoder.FeatureCodec;
import io.fuserank.encoder.ImageEncoder;
import io.fuserank.encoder.ImagePreprocessor;
import io.fuserank.encoder.InferenceOptions;
import io.fuserank.encoder.ModelBundle;
import io.fuserank.encoder.TextEncoder;
import io.fuserank.encoder.TextTokenizer;
import io.fuserank.reranker.FusionScorer;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Prints how far the Java runtime is from the PyTorch reference outputs a bundle carries, end to
 * end from the reference PNG files and caption strings: preprocessing, embeddings (max abs diff
 * and min cosine), token features, ITM logits, and whether the token ids are identical. The
 * encoder and reranker tests assert the same bounds; this prints the figures.
 *
 * <pre>java -cp ... io.fuserank.benchmarks.ParityReport [BUNDLE]</pre>
 */
public final class ParityReport {

    private ParityReport() {
    }

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args.length > 0 ? args[0] : "models/fuserank-small");
        ModelBundle bundle = ModelBundle.load(dir);
        Path ref = dir.resolve("reference");
        JsonNode index = new ObjectMapper().readTree(ref.resolve("reference.json").toFile());
        List<byte[]> files = new ArrayList<>();
        index.path("images").forEach(p -> files.add(read(dir.resolve(p.asText()))));
        List<String> captions = new ArrayList<>();
        index.path("captions").forEach(c -> captions.add(c.asText()));
        int width = bundle.featureWidth();

        ImagePreprocessor pre = ImagePreprocessor.fromManifest(bundle.manifest().get("image"), ImagePreprocessor.Limits.DEFAULT);
        try (ImageEncoder images = new ImageEncoder(bundle, pre, InferenceOptions.CPU);
             TextTokenizer tokenizer = TextTokenizer.forBundle(bundle);
             TextEncoder texts = new TextEncoder(bundle, tokenizer, InferenceOptions.CPU);
             FusionScorer scorer = new FusionScorer(bundle, InferenceOptions.CPU, 64)) {
            float[] pixels = floats(ref, index, "pixels");
            double pixelDiff = 0;
            for (int i = 0; i < files.size(); i++) {
                float[] p = pre.preprocess(files.get(i));
                pixelDiff = Math.max(pixelDiff, maxDiff(p, 0, pixels, i * p.length, p.length));
            }
            List<Encoding> imageOut = images.encode(files);
            List<Encoding> textOut = texts.encode(captions);
            long[] ids = longs(ref, index, "input_ids");
            boolean idsEqual = java.util.Arrays.equals(ids, tokenizer.encodeBatch(captions).ids());
            float[] imageEmb = floats(ref, index, "image_embedding");
            float[] textEmb = floats(ref, index, "text_embedding");
            float[] imageFeat = floats(ref, index, "image_token_features");
            float[] textFeat = floats(ref, index, "text_token_features");
            float[] logits = floats(ref, index, "itm_logits");
            int dim = bundle.embeddingDim();
            int textLength = index.path("arrays").path("input_ids").path("shape").get(1).asInt();
            double embDiff = 0, minCos = 1, featDiff = 0, itmDiff = 0, itmDiffInt8 = 0;
            for (int i = 0; i < imageOut.size(); i++) {
                embDiff = Math.max(embDiff, maxDiff(imageOut.get(i).embedding(), 0, imageEmb, i * dim, dim));
                minCos = Math.min(minCos, cosine(imageOut.get(i).embedding(), imageEmb, i * dim));
                float[] f = imageOut.get(i).tokenFeatures().values();
                featDiff = Math.max(featDiff, maxDiff(f, 0, imageFeat, i * f.length, f.length));
            }
            for (int c = 0; c < textOut.size(); c++) {
                embDiff = Math.max(embDiff, maxDiff(textOut.get(c).embedding(), 0, textEmb, c * dim, dim));
                minCos = Math.min(minCos, cosine(textOut.get(c).embedding(), textEmb, c * dim));
                float[] f = textOut.get(c).tokenFeatures().values();
                featDiff = Math.max(featDiff, maxDiff(f, 0, textFeat, c * textLength * width, f.length));
                List<byte[]> fp32 = imageOut.stream().map(e -> FeatureCodec.FP32.encode(e.tokenFeatures())).toList();
                List<byte[]> int8 = imageOut.stream().map(e -> FeatureCodec.INT8.encode(e.tokenFeatures())).toList();
                float[] s32 = scorer.scoreImages(textOut.get(c).tokenFeatures(), fp32);
                float[] s8 = scorer.scoreImages(textOut.get(c).tokenFeatures(), int8);
                for (int i = 0; i < s32.length; i++) {
                    float expected = logits[(i * captions.size() + c) * 2 + 1];
                    itmDiff = Math.max(itmDiff, Math.abs(s32[i] - expected));
                    itmDiffInt8 = Math.max(itmDiffInt8, Math.abs(s8[i] - expected));
                }
            }
            System.out.printf(Locale.ROOT, "bundle [%s], %d reference images, %d captions, end to end from PNG files and strings%n",
                bundle.name(), files.size(), captions.size());
            System.out.printf(Locale.ROOT, "preprocessing tensors      max abs diff %.3g%n", pixelDiff);
            System.out.printf(Locale.ROOT, "token ids                  %s%n", idsEqual ? "identical" : "DIFFERENT");
            System.out.printf(Locale.ROOT, "embeddings                 max abs diff %.3g, min cosine %.7f%n", embDiff, minCos);
            System.out.printf(Locale.ROOT, "token features             max abs diff %.3g%n", featDiff);
            System.out.printf(Locale.ROOT, "ITM logits (fp32 blobs)    max abs diff %.3g%n", itmDiff);
            System.out.printf(Locale.ROOT, "ITM logits (int8 blobs)    max abs diff %.3g%n", itmDiffInt8);
        }
    }

    private static byte[] read(Path path) {
        try {
            return Files.readAllBytes(path);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static ByteBuffer bytes(Path ref, JsonNode index, String name) throws java.io.IOException {
        String file = index.path("arrays").path(name).path("file").asText();
        return ByteBuffer.wrap(Files.readAllBytes(ref.resolve(file))).order(ByteOrder.LITTLE_ENDIAN);
    }

    private static float[] floats(Path ref, JsonNode index, String name) throws java.io.IOException {
        ByteBuffer b = bytes(ref, index, name);
        float[] out = new float[b.remaining() / 4];
        b.asFloatBuffer().get(out);
        return out;
    }

    private static long[] longs(Path ref, JsonNode index, String name) throws java.io.IOException {
        ByteBuffer b = bytes(ref, index, name);
        long[] out = new long[b.remaining() / 8];
        b.asLongBuffer().get(out);
        return out;
    }

    private static double maxDiff(float[] a, int ao, float[] b, int bo, int n) {
        double max = 0;
        for (int i = 0; i < n; i++) {
            max = Math.max(max, Math.abs(a[ao + i] - b[bo + i]));
        }
        return max;
    }

    private static double cosine(float[] a, float[] b, int bo) {
        double dot = 0, na = 0, nb = 0;
        for (int i = 0; i < a.length; i++) {
            dot += a[i] * b[bo + i];
            na += a[i] * a[i];
            nb += b[bo + i] * b[bo + i];
        }
        return dot / Math.sqrt(na * nb);
    }
}
