package io.fuserank.benchmarks;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.fuserank.encoder.DocumentStorage;
import io.fuserank.encoder.Encoding;
import io.fuserank.encoder.FusionDeclaration.Direction;
import io.fuserank.encoder.FusionDeclaration.Modality;
import io.fuserank.encoder.ImageEncoder;
import io.fuserank.encoder.InferenceOptions;
import io.fuserank.encoder.ModelBundle;
import io.fuserank.encoder.TextEncoder;
import io.fuserank.encoder.TextTokenizer;
import io.fuserank.reranker.CandidateScores;
import io.fuserank.reranker.FusionScorer;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * The fusion (ITM) graph of any bundle timed as the plugin's rescorer runs it: one query against a
 * window of k candidates' stored blobs in one {@link FusionScorer} call (blob decoding included), in
 * both search directions, at each k. A model too large for JMH's repeated forks (BLIP-base: 24
 * GFLOPs per pair) gets a few timed calls after one warm-up call; the median is reported.
 *
 * <p>The query is the bundle's first reference caption (text → image) or image (image → text); the
 * candidates are its reference images or captions, cycled to k, encoded by the bundle's own
 * encoders and stored as {@link DocumentStorage} says (the manifest's codec for token features).
 */
@Command(name = "fusion-timings", mixinStandardHelpOptions = true,
    description = "Times the fusion graph of bundles at window sizes k, both directions; prints a table and writes JSON.")
public final class FusionTimings implements Callable<Integer> {

    @Parameters(paramLabel = "BUNDLE", arity = "1..*", description = "Bundle directories.")
    List<Path> bundles;

    @Option(names = "--k", split = ",", defaultValue = "16,32", description = "Window sizes (default: ${DEFAULT-VALUE}).")
    List<Integer> ks;

    @Option(names = "--reps", defaultValue = "3", description = "Timed calls per setting, after one warm-up call (default: ${DEFAULT-VALUE}).")
    int reps;

    @Option(names = "--threads", defaultValue = "0", description = "ONNX Runtime intra-op threads; 0: one per core (default).")
    int threads;

    @Option(names = "--json", description = "Write the figures here as JSON.")
    Path json;

    /** One setting's figures. */
    record Timing(String model, String direction, int k, double msPerQuery, double msPerPair, double[] callsMs, int candidateBytes,
                  long flopsPerPair) {
    }

    public static void main(String[] args) {
        System.exit(new CommandLine(new FusionTimings()).execute(args));
    }

    @Override
    public Integer call() throws Exception {
        if (reps < 1 || ks.stream().anyMatch(k -> k < 1 || k > 1024)) {
            throw new CommandLine.ParameterException(new CommandLine(this), "--reps must be >= 1 and each --k in [1, 1024]");
        }
        InferenceOptions options = BenchmarkInputs.cpu(threads);
        List<Timing> timings = new ArrayList<>();
        for (Path directory : bundles) {
            timings.addAll(time(ModelBundle.load(directory), options));
        }
        print(System.out, timings, options);
        if (json != null) {
            write(json, timings, options);
        }
        return 0;
    }

    private List<Timing> time(ModelBundle bundle, InferenceOptions options) throws Exception {
        List<byte[]> images = BenchmarkInputs.referenceImages(bundle);
        List<String> captions = new ArrayList<>();
        new ObjectMapper().readTree(bundle.directory().resolve("reference").resolve("reference.json").toFile())
            .path("captions").forEach(c -> captions.add(c.asText()));
        if (captions.isEmpty()) {
            throw new IllegalArgumentException("bundle [" + bundle.name() + "] has no reference captions");
        }
        List<Encoding> imageEncodings;
        List<Encoding> captionEncodings;
        try (ImageEncoder imageEncoder = new ImageEncoder(bundle, BenchmarkInputs.preprocessor(bundle), options);
             TextTokenizer tokenizer = TextTokenizer.forBundle(bundle);
             TextEncoder textEncoder = new TextEncoder(bundle, tokenizer, options)) {
            imageEncodings = imageEncoder.encode(images);
            captionEncodings = textEncoder.encode(captions);
        }
        DocumentStorage storage = DocumentStorage.of(bundle);
        List<byte[]> imageBlobs = imageEncodings.stream().map(e -> storage.blob(Modality.IMAGE, e, null)).toList();
        List<byte[]> captionBlobs = captionEncodings.stream().map(e -> storage.blob(Modality.TEXT, e, null)).toList();
        int maxK = ks.stream().mapToInt(Integer::intValue).max().orElseThrow();
        List<Timing> out = new ArrayList<>();
        try (FusionScorer scorer = new FusionScorer(bundle, options, maxK)) {
            for (Direction direction : Direction.values()) {
                boolean textQuery = direction == Direction.TEXT_TO_IMAGE;
                Encoding query = textQuery ? captionEncodings.get(0) : imageEncodings.get(0);
                List<byte[]> pool = textQuery ? imageBlobs : captionBlobs;
                if (pool.get(0) == null) {
                    continue; // the model's documents of that kind store nothing: no such direction
                }
                for (int k : ks) {
                    List<byte[]> window = BenchmarkInputs.repeat(pool, k);
                    double[] calls = new double[reps];
                    for (int r = -1; r < reps; r++) {
                        long start = System.nanoTime();
                        CandidateScores scores = textQuery ? scorer.scoreImageCandidates(query, window) : scorer.scoreTextCandidates(query, window);
                        long elapsed = System.nanoTime() - start;
                        for (int j = 0; j < k; j++) {
                            if (scores.isScored(j) == false) {
                                throw new IllegalStateException("candidate " + j + " unscored: " + scores.rejection(j).reason());
                            }
                        }
                        if (r >= 0) {
                            calls[r] = elapsed / 1e6;
                        }
                    }
                    double median = median(calls);
                    int bytes = (int) Math.round(window.stream().mapToInt(b -> b.length).average().orElse(0));
                    out.add(new Timing(bundle.name(), direction.label(), k, median, median / k, calls, bytes, bundle.fusionFlopsPerPair()));
                }
            }
        }
        return out;
    }

    static double median(double[] values) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        int n = sorted.length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }

    private void print(PrintStream out, List<Timing> timings, InferenceOptions options) {
        out.printf(Locale.ROOT, "fusion graph, %d intra-op threads, median of %d calls after one warm-up%n", options.intraOpThreads(), reps);
        out.println("| model | direction | k | ms per query | ms per pair | stored bytes per candidate | GFLOPs per pair | GFLOP/s |");
        out.println("|---|---|---|---|---|---|---|---|");
        for (Timing t : timings) {
            double gflops = t.flopsPerPair() / 1e9;
            out.printf(Locale.ROOT, "| %s | %s | %d | %.1f | %.2f | %,d | %.2f | %.1f |%n", t.model(), t.direction(), t.k(), t.msPerQuery(),
                t.msPerPair(), t.candidateBytes(), gflops, gflops / (t.msPerPair() / 1e3));
        }
    }

    private void write(Path file, List<Timing> timings, InferenceOptions options) throws Exception {
        ObjectMapper json = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
        ObjectNode root = json.createObjectNode();
        root.put("intra_op_threads", options.intraOpThreads());
        root.put("timed_calls", reps);
        root.put("cpu_cores", Runtime.getRuntime().availableProcessors());
        ArrayNode rows = root.putArray("timings");
        for (Timing t : timings) {
            ObjectNode row = rows.addObject();
            row.put("model", t.model()).put("direction", t.direction()).put("k", t.k()).put("ms_per_query", t.msPerQuery())
                .put("ms_per_pair", t.msPerPair()).put("stored_bytes_per_candidate", t.candidateBytes())
                .put("fusion_flops_per_pair", t.flopsPerPair());
            ArrayNode calls = row.putArray("calls_ms");
            Arrays.stream(t.callsMs()).forEach(calls::add);
        }
        Files.createDirectories(file.toAbsolutePath().getParent());
        json.writeValue(file.toFile(), root);
    }
}
