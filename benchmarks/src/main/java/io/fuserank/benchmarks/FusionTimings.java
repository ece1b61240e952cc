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
import io.fuserank.encoder.Precision;
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

    @Option(names = "--precision", split = ",", defaultValue = "fp32", description = "Graph precisions to time, each bundle that has them "
        + "(fp32, int8; default: ${DEFAULT-VALUE}).")
    List<String> precisions;

    @Option(names = "--json", description = "Write the figures here as JSON.")
    Path json;

    /** One setting's figures. */
    record Timing(String model, String precision, String direction, int k, double msPerQuery, double msPerPair, double[] callsMs,
                  int candidateBytes, long flopsPerPair) {
    }

    /** The machine's GEMM rates measured in this run ({@link GemmProbe}): the floors the timings are stated against. */
    record Floors(double fp32Gflops, double int8Gflops) {
        /** How many times the int8 floor's time for its FLOPs a timing takes. */
        double int8Multiple(Timing t) {
            return t.msPerPair() / (t.flopsPerPair() / (int8Gflops * 1e9) * 1e3);
        }
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
            ModelBundle bundle = ModelBundle.load(directory);
            for (String label : precisions) {
                Precision precision = Precision.fromLabel(label);
                if (bundle.precisions().contains(precision)) {
                    timings.addAll(time(bundle, options.withPrecision(precision)));
                } else {
                    System.err.printf(Locale.ROOT, "bundle [%s] has no [%s] graphs: skipped%n", bundle.name(), label);
                }
            }
        }
        Floors floors = floors(options.intraOpThreads());
        print(System.out, timings, options, floors);
        if (json != null) {
            write(json, timings, options, floors);
        }
        return 0;
    }

    /** The fp32 and int8 GEMM rates, median of 5 products after 2 warm-ups each. */
    private static Floors floors(int intraOpThreads) throws Exception {
        try (GemmProbe fp32 = new GemmProbe(GemmProbe.FLOOR_SHAPE, intraOpThreads);
             GemmProbe int8 = new GemmProbe(GemmProbe.FLOOR_SHAPE, intraOpThreads, true)) {
            return new Floors(fp32.measureGflops(2, 5), int8.measureGflops(2, 5));
        }
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
                    out.add(new Timing(bundle.name(), options.precisionFor(bundle).label(), direction.label(), k, median, median / k, calls,
                        bytes, bundle.fusionFlopsPerPair()));
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

    private void print(PrintStream out, List<Timing> timings, InferenceOptions options, Floors floors) {
        out.printf(Locale.ROOT, "fusion graph, %d intra-op threads, median of %d calls after one warm-up; GEMM floors in this run "
            + "(%s): fp32 %.1f GFLOP/s, int8 %.1f GFLOP/s%n", options.intraOpThreads(), reps, GemmProbe.FLOOR_SHAPE, floors.fp32Gflops(),
            floors.int8Gflops());
        out.println("| model | precision | direction | k | ms per query | ms per pair | stored bytes per candidate | GFLOPs per pair | GFLOP/s "
            + "| x int8 floor |");
        out.println("|---|---|---|---|---|---|---|---|---|---|");
        for (Timing t : timings) {
            double gflops = t.flopsPerPair() / 1e9;
            out.printf(Locale.ROOT, "| %s | %s | %s | %d | %.1f | %.2f | %,d | %.2f | %.1f | %.1f |%n", t.model(), t.precision(), t.direction(),
                t.k(), t.msPerQuery(), t.msPerPair(), t.candidateBytes(), gflops, gflops / (t.msPerPair() / 1e3), floors.int8Multiple(t));
        }
    }

    private void write(Path file, List<Timing> timings, InferenceOptions options, Floors floors) throws Exception {
        ObjectMapper json = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
        ObjectNode root = json.createObjectNode();
        root.put("intra_op_threads", options.intraOpThreads());
        root.putObject("gemm_gflops").put("shape", GemmProbe.FLOOR_SHAPE).put("fp32", floors.fp32Gflops()).put("int8", floors.int8Gflops());
        root.put("timed_calls", reps);
        root.put("cpu_cores", Runtime.getRuntime().availableProcessors());
        ArrayNode rows = root.putArray("timings");
        for (Timing t : timings) {
            ObjectNode row = rows.addObject();
            row.put("model", t.model()).put("precision", t.precision()).put("direction", t.direction()).put("k", t.k())
                .put("ms_per_query", t.msPerQuery()).put("int8_floor_multiple", floors.int8Multiple(t))
                .put("ms_per_pair", t.msPerPair()).put("stored_bytes_per_candidate", t.candidateBytes())
                .put("fusion_flops_per_pair", t.flopsPerPair());
            ArrayNode calls = row.putArray("calls_ms");
            Arrays.stream(t.callsMs()).forEach(calls::add);
        }
        Files.createDirectories(file.toAbsolutePath().getParent());
        json.writeValue(file.toFile(), root);
    }
}
