package io.fuserank.benchmarks;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.openjdk.jmh.results.RunResult;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalDouble;

/**
 * The model-runtime figures a reader wants from one JMH run: image-encoder images/s, query
 * encoding latency, rerank latency per window and codec, the batching speed-up and the fusion
 * scorer's share of the machine's GEMM rate, each goal judged from the measured numbers only.
 * Prints them as a table and as JSON; a benchmark that did not run is left out, and so is any
 * figure that needs it.
 */
final class SummaryReport {

    /** The window whose batched call is compared with the single-pair calls. */
    static final int SPEEDUP_K = FusionScorerBenchmark.SINGLE_CALLS;

    private static final String NOT_RUN = "not run";

    record ImageRate(String variant, int batch, double imagesPerSecond) {
    }

    record GemmRate(String shape, double seconds, double gflops) {
    }

    record FusionLatency(String codec, int k, double seconds, double gflops, OptionalDouble floorFraction) {
    }

    record Speedup(String codec, double batchedSeconds, double singleCallsSeconds, double speedup) {
    }

    /** What the run was: its bundle, FLOP count, threads and JMH settings, recorded with the figures. */
    record Context(String bundle, long fusionFlopsPerPair, int queryTokens, int threads, String jmhSettings) {
    }

    private final Measurements measurements;
    private final Context context;

    SummaryReport(Measurements measurements, Context context) {
        this.measurements = measurements;
        this.context = context;
    }

    List<ImageRate> imageRates() {
        List<ImageRate> rates = new ArrayList<>();
        for (RunResult run : measurements.runsOf(ImageEncoderBenchmark.class, "encodePixels")) {
            int batch = Measurements.intParam(run, "batch");
            rates.add(new ImageRate("pixels", batch, imagesPerSecond(run, batch)));
        }
        for (RunResult run : measurements.runsOf(ImageEncoderBenchmark.class, "decodeAndEncode32")) {
            int batch = ImageEncoderBenchmark.FILE_BATCH;
            rates.add(new ImageRate("png_decode_preprocess_encode", batch, imagesPerSecond(run, batch)));
        }
        return rates;
    }

    OptionalDouble textLatencySeconds() {
        return measurements.runsOf(TextEncoderBenchmark.class, "encodeQuery").stream()
            .mapToDouble(Measurements::secondsPerOperation).findFirst();
    }

    List<GemmRate> gemmRates() {
        return measurements.runsOf(GemmBenchmark.class, "matmul").stream().map(run -> {
            GemmShape shape = GemmShape.parse(run.getParams().getParam("shape"));
            double seconds = Measurements.secondsPerOperation(run);
            return new GemmRate(shape.toString(), seconds, RuntimeSummary.gflops(shape.flops(), seconds));
        }).toList();
    }

    /** The reference GEMM rate ({@value GemmBenchmark#FLOOR_SHAPE}), if it was measured. */
    Optional<GemmRate> gemmFloor() {
        return gemmRates().stream().filter(g -> g.shape().equals(GemmBenchmark.FLOOR_SHAPE)).findFirst();
    }

    List<FusionLatency> fusionLatencies() {
        Optional<GemmRate> floor = gemmFloor();
        return measurements.runsOf(FusionScorerBenchmark.class, "scoreImages").stream().map(run -> {
            int k = Measurements.intParam(run, "k");
            double seconds = Measurements.secondsPerOperation(run);
            double gflops = RuntimeSummary.fusionGflops(k, context.fusionFlopsPerPair(), seconds);
            OptionalDouble fraction = floor.isPresent()
                ? OptionalDouble.of(RuntimeSummary.floorFraction(gflops, floor.get().gflops()))
                : OptionalDouble.empty();
            return new FusionLatency(run.getParams().getParam("codec"), k, seconds, gflops, fraction);
        }).toList();
    }

    /** Per codec, k = {@value #SPEEDUP_K} in one call against as many single-pair calls, where both ran. */
    List<Speedup> speedups() {
        List<Speedup> speedups = new ArrayList<>();
        for (RunResult single : measurements.runsOf(FusionScorerBenchmark.class, "singlePairCalls64")) {
            String codec = single.getParams().getParam("codec");
            measurements.find(FusionScorerBenchmark.class, "scoreImages", Map.of("k", Integer.toString(SPEEDUP_K), "codec", codec))
                .ifPresent(batched -> {
                    double batchedSeconds = Measurements.secondsPerOperation(batched);
                    double singleSeconds = Measurements.secondsPerOperation(single);
                    speedups.add(new Speedup(codec, batchedSeconds, singleSeconds, RuntimeSummary.speedup(batchedSeconds, singleSeconds)));
                });
        }
        return speedups;
    }

    void print(PrintStream out) {
        out.println();
        out.println(String.format(Locale.ROOT, "fuserank model runtime: bundle [%s], %d intra-op threads, %d cores, Java %s",
            context.bundle(), context.threads(), Runtime.getRuntime().availableProcessors(), Runtime.version()));
        out.println("JMH: " + context.jmhSettings());
        printImages(out);
        printText(out);
        printGemm(out);
        printFusion(out);
        printSpeedups(out);
    }

    private void printImages(PrintStream out) {
        out.println();
        List<ImageRate> rates = imageRates();
        if (rates.isEmpty()) {
            out.println("Image encoder: " + NOT_RUN);
            return;
        }
        out.println("Image encoder                           batch     images/s");
        for (ImageRate rate : rates) {
            String what = rate.variant().equals("pixels") ? "  encodePixels (graph only)" : "  encode (PNG decode, preprocess, graph)";
            out.println(String.format(Locale.ROOT, "%-40s%5d %12.1f", what, rate.batch(), rate.imagesPerSecond()));
        }
    }

    private void printText(PrintStream out) {
        out.println();
        OptionalDouble seconds = textLatencySeconds();
        out.println(seconds.isPresent()
            ? String.format(Locale.ROOT, "Text encoder, one query [%s]: %.1f us", BenchmarkInputs.QUERY, seconds.getAsDouble() * 1e6)
            : "Text encoder: " + NOT_RUN);
    }

    private void printGemm(PrintStream out) {
        out.println();
        List<GemmRate> rates = gemmRates();
        if (rates.isEmpty()) {
            out.println("fp32 GEMM: " + NOT_RUN);
            return;
        }
        out.println("fp32 GEMM through ONNX Runtime (MxKxN)          ms      GFLOP/s");
        for (GemmRate rate : rates) {
            out.println(String.format(Locale.ROOT, "  %-40s %9.3f %12.2f%s", rate.shape(), rate.seconds() * 1e3, rate.gflops(),
                rate.shape().equals(GemmBenchmark.FLOOR_SHAPE) ? "  (the floor)" : ""));
        }
    }

    private void printFusion(PrintStream out) {
        out.println();
        List<FusionLatency> rows = fusionLatencies();
        if (rows.isEmpty()) {
            out.println("Fusion scorer: " + NOT_RUN);
            return;
        }
        out.println(String.format(Locale.ROOT,
            "Fusion scorer, one %d-token query against k image blobs (%d FLOPs per pair)", context.queryTokens(), context.fusionFlopsPerPair()));
        out.println(String.format(Locale.ROOT, "  codec     k   latency ms      pairs/s    GFLOP/s   of GEMM floor (goal >= %.0f%%)",
            RuntimeSummary.FLOOR_FRACTION_GOAL * 100));
        for (FusionLatency row : rows) {
            String floor = row.floorFraction().isPresent()
                ? String.format(Locale.ROOT, "%6.1f%%  %s", row.floorFraction().getAsDouble() * 100,
                    RuntimeSummary.verdict(RuntimeSummary.floorGoalMet(row.floorFraction().getAsDouble())))
                : "   n/a   (GEMM floor not measured)";
            out.println(String.format(Locale.ROOT, "  %-5s %5d %12.3f %12.1f %10.2f   %s",
                row.codec(), row.k(), row.seconds() * 1e3, row.k() / row.seconds(), row.gflops(), floor));
        }
    }

    private void printSpeedups(PrintStream out) {
        out.println();
        List<Speedup> rows = speedups();
        if (rows.isEmpty()) {
            out.println("Batching speed-up: " + NOT_RUN + " (needs scoreImages at k = " + SPEEDUP_K + " and singlePairCalls64)");
            return;
        }
        out.println(String.format(Locale.ROOT, "Batching: k = %d in one call against %d single-pair calls (goal >= %.0fx)",
            SPEEDUP_K, SPEEDUP_K, RuntimeSummary.SPEEDUP_GOAL));
        out.println("  codec   batched ms   single calls ms   speed-up");
        for (Speedup row : rows) {
            out.println(String.format(Locale.ROOT, "  %-5s %12.3f %17.3f %9.2fx  %s", row.codec(), row.batchedSeconds() * 1e3,
                row.singleCallsSeconds() * 1e3, row.speedup(), RuntimeSummary.verdict(RuntimeSummary.speedupGoalMet(row.speedup()))));
        }
    }

    ObjectNode toJson(ObjectMapper mapper) {
        ObjectNode root = mapper.createObjectNode();
        root.put("bundle", context.bundle());
        root.put("intra_op_threads", context.threads());
        root.put("available_processors", Runtime.getRuntime().availableProcessors());
        root.put("java", Runtime.version().toString());
        root.put("jmh", context.jmhSettings());
        root.put("fusion_flops_per_pair", context.fusionFlopsPerPair());
        root.put("fusion_query_tokens", context.queryTokens());

        ArrayNode images = root.putArray("image_encoder");
        imageRates().forEach(r -> images.addObject().put("variant", r.variant()).put("batch", r.batch())
            .put("images_per_second", r.imagesPerSecond()));
        textLatencySeconds().ifPresent(s -> root.putObject("text_encoder").put("query", BenchmarkInputs.QUERY).put("latency_us", s * 1e6));
        ArrayNode gemm = root.putArray("gemm");
        gemmRates().forEach(g -> gemm.addObject().put("shape", g.shape()).put("ms", g.seconds() * 1e3).put("gflops", g.gflops())
            .put("floor", g.shape().equals(GemmBenchmark.FLOOR_SHAPE)));
        ArrayNode fusion = root.putArray("fusion_scorer");
        for (FusionLatency row : fusionLatencies()) {
            ObjectNode node = fusion.addObject().put("codec", row.codec()).put("k", row.k()).put("latency_ms", row.seconds() * 1e3)
                .put("gflops", row.gflops());
            row.floorFraction().ifPresent(f -> node.put("gemm_floor_fraction", f).put("goal", RuntimeSummary.FLOOR_FRACTION_GOAL)
                .put("goal_met", RuntimeSummary.floorGoalMet(f)));
        }
        ArrayNode speedups = root.putArray("batching_speedup");
        speedups().forEach(s -> speedups.addObject().put("codec", s.codec()).put("k", SPEEDUP_K)
            .put("batched_ms", s.batchedSeconds() * 1e3).put("single_calls_ms", s.singleCallsSeconds() * 1e3)
            .put("speedup", s.speedup()).put("goal", RuntimeSummary.SPEEDUP_GOAL).put("goal_met", RuntimeSummary.speedupGoalMet(s.speedup())));

        ArrayNode raw = root.putArray("jmh_results");
        for (RunResult run : measurements.all()) {
            ObjectNode node = raw.addObject().put("benchmark", run.getParams().getBenchmark()).put("mode", run.getParams().getMode().shortLabel());
            ObjectNode params = node.putObject("params");
            run.getParams().getParamsKeys().forEach(key -> params.put(key, run.getParams().getParam(key)));
            node.put("score", run.getPrimaryResult().getScore()).put("unit", run.getPrimaryResult().getScoreUnit());
            double error = run.getPrimaryResult().getScoreError();
            if (Double.isFinite(error)) { // JMH gives no error bound for fewer than two iterations
                node.put("score_error", error);
            }
        }
        return root;
    }

    private static double imagesPerSecond(RunResult run, int batch) {
        return RuntimeSummary.imagesPerSecond(1.0 / Measurements.secondsPerOperation(run), batch);
    }
}
