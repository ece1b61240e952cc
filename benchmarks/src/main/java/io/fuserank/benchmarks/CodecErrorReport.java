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

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * What each token-feature codec costs: bytes per image, and the ITM score error it causes against
 * fp32 blobs on a Karpathy-format split (the synthetic test split by default).
 *
 * <p>Every image of the split is encoded once; the first {@code queries} captions are the text
 * queries; each query's ITC top-{@code k} images are scored by the fusion encoder from fp32, fp16
 * and int8 blobs. Printed per codec: blob bytes, max and mean |ITM score - fp32 score|, the share
 * of queries whose reranked top-1 changes, and IR R@1 after the rerank.
 *
 * <pre>java -cp ... io.fuserank.benchmarks.CodecErrorReport BUNDLE ANNOTATIONS IMAGE_ROOT [queries] [k]</pre>
 */
public final class CodecErrorReport {

    private CodecErrorReport() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 3) {
            System.err.println("usage: CodecErrorReport BUNDLE ANNOTATIONS IMAGE_ROOT [queries=1000] [k=16]");
            System.exit(2);
        }
        ModelBundle bundle = ModelBundle.load(Path.of(args[0]));
        JsonNode annotations = new ObjectMapper().readTree(Path.of(args[1]).toFile());
        Path root = Path.of(args[2]);
        int queries = args.length > 3 ? Integer.parseInt(args[3]) : 1000;
        int k = args.length > 4 ? Integer.parseInt(args[4]) : 16;

        List<byte[]> files = new ArrayList<>();
        List<String> captions = new ArrayList<>();
        List<Integer> captionImage = new ArrayList<>();
        for (JsonNode entry : annotations) {
            for (JsonNode caption : entry.path("caption")) {
                captions.add(caption.asText());
                captionImage.add(files.size());
            }
            files.add(Files.readAllBytes(root.resolve(entry.path("image").asText())));
        }
        queries = Math.min(queries, captions.size());
        ImagePreprocessor pre = ImagePreprocessor.fromManifest(bundle.manifest().get("image"), ImagePreprocessor.Limits.DEFAULT);
        try (ImageEncoder imageEncoder = new ImageEncoder(bundle, pre, InferenceOptions.CPU);
             TextTokenizer tokenizer = TextTokenizer.forBundle(bundle);
             TextEncoder textEncoder = new TextEncoder(bundle, tokenizer, InferenceOptions.CPU);
             FusionScorer scorer = new FusionScorer(bundle, InferenceOptions.CPU, 128)) {
            List<Encoding> images = new ArrayList<>();
            for (int from = 0; from < files.size(); from += 64) {
                images.addAll(imageEncoder.encode(files.subList(from, Math.min(files.size(), from + 64))));
            }
            Map<FeatureCodec, List<byte[]>> blobs = new EnumMap<>(FeatureCodec.class);
            for (FeatureCodec codec : FeatureCodec.values()) {
                blobs.put(codec, images.stream().map(e -> codec.encode(e.tokenFeatures())).toList());
            }
            Map<FeatureCodec, double[]> stats = new EnumMap<>(FeatureCodec.class); // max, sum, pairs, top1 changed, hits
            for (FeatureCodec codec : FeatureCodec.values()) {
                stats.put(codec, new double[5]);
            }
            int itcHits = 0;
            for (int q = 0; q < queries; q++) {
                Encoding text = textEncoder.encode(captions.get(q));
                int[] top = topK(text.embedding(), images, k);
                itcHits += top[0] == captionImage.get(q) ? 1 : 0;
                float[] reference = null;
                for (FeatureCodec codec : FeatureCodec.values()) {
                    List<byte[]> candidates = Arrays.stream(top).mapToObj(blobs.get(codec)::get).toList();
                    float[] scores = scorer.scoreImages(text.tokenFeatures(), candidates);
                    double[] s = stats.get(codec);
                    if (codec == FeatureCodec.FP32) {
                        reference = scores;
                    }
                    for (int i = 0; i < scores.length; i++) {
                        double diff = Math.abs(scores[i] - reference[i]);
                        s[0] = Math.max(s[0], diff);
                        s[1] += diff;
                        s[2]++;
                    }
                    s[3] += argmax(scores) != argmax(reference) ? 1 : 0;
                    s[4] += top[argmax(scores)] == captionImage.get(q) ? 1 : 0;
                }
            }
            System.out.printf(Locale.ROOT, "%d images, %d caption queries, ITC top-%d reranked; ITC IR R@1 %.2f%n",
                images.size(), queries, k, 100.0 * itcHits / queries);
            System.out.printf(Locale.ROOT, "%-5s %12s %14s %15s %14s %10s%n",
                "codec", "bytes/image", "max |d ITM|", "mean |d ITM|", "top-1 changed", "IR R@1");
            var shape = images.get(0).tokenFeatures();
            for (FeatureCodec codec : FeatureCodec.values()) {
                double[] s = stats.get(codec);
                System.out.printf(Locale.ROOT, "%-5s %12d %14.5f %15.5f %13.2f%% %10.2f%n", codec.label(),
                    codec.encodedBytes(shape.layers(), shape.tokens(), shape.width()), s[0], s[1] / s[2],
                    100 * s[3] / queries, 100 * s[4] / queries);
            }
        }
    }

    private static int[] topK(float[] query, List<Encoding> images, int k) {
        float[] sims = new float[images.size()];
        for (int i = 0; i < sims.length; i++) {
            float[] e = images.get(i).embedding();
            float dot = 0;
            for (int j = 0; j < e.length; j++) {
                dot += query[j] * e[j];
            }
            sims[i] = dot;
        }
        Integer[] order = new Integer[sims.length];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        Arrays.sort(order, (a, b) -> Float.compare(sims[b], sims[a]));
        return Arrays.stream(order, 0, Math.min(k, order.length)).mapToInt(Integer::intValue).toArray();
    }

    private static int argmax(float[] values) {
        int best = 0;
        for (int i = 1; i < values.length; i++) {
            if (values[i] > values[best]) {
                best = i;
            }
        }
        return best;
    }
}
