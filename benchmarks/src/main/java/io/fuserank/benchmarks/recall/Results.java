package io.fuserank.benchmarks.recall;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.fuserank.benchmarks.SearchStats;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.OptionalDouble;

/**
 * Every figure of one run, as rows with the fields of {@code results-index.json} ({@code record}
 * {@code recall}, {@code latency} or {@code ann}), so the JSON file, the Markdown tables, the
 * plots and the Kibana index all read the same rows.
 */
final class Results {

    private final String runId;
    private final String dataset;
    private final String model;
    private final float itcWeight;
    private final int unindexableImages;
    private final String timestamp = Instant.now().toString();
    private final List<ObjectNode> rows = new ArrayList<>();
    private final List<Agreement> agreements = new ArrayList<>();
    private double gemmGflops = Double.NaN;
    private long flopsPerPair;

    /**
     * {@code itcWeight}: the W of the {@code knn_itm_itc} mode's {@code ITM logit + W x ITC};
     * {@code unindexableImages}: the split's images left out because the encoder refuses them.
     */
    Results(String runId, String dataset, String model, float itcWeight, int unindexableImages) {
        this.runId = runId;
        this.dataset = dataset;
        this.model = model;
        this.itcWeight = itcWeight;
        this.unindexableImages = unindexableImages;
    }

    int unindexableImages() {
        return unindexableImages;
    }

    float itcWeight() {
        return itcWeight;
    }

    String dataset() {
        return dataset;
    }

    String model() {
        return model;
    }

    double gemmGflops() {
        return gemmGflops;
    }

    long flopsPerPair() {
        return flopsPerPair;
    }

    List<ObjectNode> rows() {
        return rows;
    }

    List<ObjectNode> rows(String record) {
        return rows.stream().filter(r -> r.path("record").asText().equals(record)).toList();
    }

    void recall(Mode.Setting setting, RetrievalRecall.Recall recall, int captions, int images) {
        ObjectNode row = row("recall", setting).put("queries", captions + images);
        row.setAll(recall.toJson());
    }

    void latency(Mode.Setting setting, int concurrency, SearchStats.Latency latency) {
        row("latency", setting).put("direction", "text_to_image").put("queries", latency.queries()).put("concurrency", concurrency)
            .put("latency_p50_ms", round(latency.p50Millis())).put("latency_p95_ms", round(latency.p95Millis()))
            .put("latency_p99_ms", round(latency.p99Millis())).put("qps", round(latency.qps()));
    }

    void annLoss(int numCandidates, double recallAt10) {
        row("ann", new Mode.Setting(Mode.KNN_ITC, 0)).put("direction", "text_to_image").put("engine", "elasticsearch")
            .put("ann_param", numCandidates).put("recall_at_10", Math.round(recallAt10 * 10000) / 10000.0);
    }

    /** The share of latency queries whose client-side rerank top-1 equals the plugin's at window {@code k}. */
    record Agreement(int k, double share) {
    }

    /** Kept in the JSON file and the Markdown only (the results index has no field for it). */
    void agreement(int k, double share) {
        agreements.add(new Agreement(k, share));
    }

    List<Agreement> agreements() {
        return agreements;
    }

    /**
     * Adds to each in-engine ITM latency row at concurrency 1 the rescore's time as a multiple of
     * its FLOP floor: (p50 with rescore − p50 of knn alone) ÷ (k pairs × FLOPs per pair ÷ GEMM rate).
     * The manifest's FLOPs per pair count a full-length query, so the floor is an upper bound and
     * the multiple errs low for short captions.
     */
    void flopFloor(double gflops, long flopsPerPair) {
        this.gemmGflops = gflops;
        this.flopsPerPair = flopsPerPair;
        OptionalDouble knn = rows("latency").stream()
            .filter(r -> r.path("mode").asText().equals(Mode.KNN_ITC.label()) && r.path("concurrency").asInt() == 1)
            .mapToDouble(r -> r.path("latency_p50_ms").asDouble()).findFirst();
        if (knn.isEmpty()) {
            return;
        }
        for (ObjectNode row : rows("latency")) {
            String mode = row.path("mode").asText();
            if (row.path("concurrency").asInt() == 1 && (mode.equals(Mode.KNN_ITM.label()) || mode.equals(Mode.KNN_ITM_ITC.label()))) {
                double floorMs = row.path("k").asInt() * (double) flopsPerPair / (gflops * 1e9) * 1e3;
                row.put("flop_floor_multiple", round((row.path("latency_p50_ms").asDouble() - knn.getAsDouble()) / floorMs));
            }
        }
    }

    static String recallLine(RetrievalRecall.Recall recall) {
        return String.format(Locale.ROOT, "TR %.2f/%.2f/%.2f  IR %.2f/%.2f/%.2f  RSUM %.2f", recall.text().r1(), recall.text().r5(),
            recall.text().r10(), recall.image().r1(), recall.image().r5(), recall.image().r10(), recall.rsum());
    }

    private ObjectNode row(String record, Mode.Setting setting) {
        ObjectNode row = JsonNodeFactory.instance.objectNode().put("@timestamp", timestamp).put("run_id", runId).put("record", record)
            .put("dataset", dataset).put("model", model).put("direction", "both").put("mode", setting.mode().label()).put("k", setting.k());
        rows.add(row);
        return row;
    }

    private static double round(double value) {
        return Math.round(value * 100) / 100.0;
    }
}
