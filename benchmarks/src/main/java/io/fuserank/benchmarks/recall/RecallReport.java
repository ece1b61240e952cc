package io.fuserank.benchmarks.recall;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.jfree.chart.ChartFactory;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

import java.awt.BasicStroke;
import java.awt.Color;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.TreeSet;
import java.util.function.ToDoubleFunction;

/**
 * Writes one run's {@link Results}: {@code results.json} (every row), {@code results.md} (the
 * recall, latency and ANN tables) and two PNG plots drawn with JFreeChart, {@code recall-vs-k.png}
 * (IR R@1 and TR R@1 of each rerank mode against k, with knn and exact ITC as flat lines) and
 * {@code latency-vs-k.png} (p50 at concurrency 1 against k, in-engine and client-side).
 */
final class RecallReport {

    private static final ObjectMapper JSON = new ObjectMapper();

    private final Results results;
    private final Path directory;

    RecallReport(Results results, Path directory) {
        this.results = results;
        this.directory = directory;
    }

    void write() throws IOException {
        ObjectNode json = JSON.createObjectNode().put("dataset", results.dataset()).put("model", results.model())
            .put("itc_weight", results.itcWeight()).put("unindexable_images", results.unindexableImages())
            .put("gemm_gflops", results.gemmGflops()).put("fusion_flops_per_pair", results.flopsPerPair());
        var agreement = json.putArray("client_rerank_top1_agreement");
        results.agreements().forEach(a -> agreement.addObject().put("k", a.k()).put("share", a.share()));
        json.putArray("rows").addAll(results.rows());
        JSON.writerWithDefaultPrettyPrinter().writeValue(directory.resolve("results.json").toFile(), json);
        String markdown = markdown();
        Files.writeString(directory.resolve("results.md"), markdown);
        System.out.println(markdown);
        plot("recall-vs-k.png", "Recall vs rerank window (" + results.dataset() + ")", "R@1", this::recallSeries);
        plot("latency-vs-k.png", "Text->image latency p50 at concurrency 1 (" + results.dataset() + ")", "p50 ms", this::latencySeries);
    }

    String markdown() {
        StringBuilder md = new StringBuilder();
        md.append(String.format(Locale.ROOT, "## Recall: %s, model %s\n\n", results.dataset(), results.model()));
        md.append("| mode | k | TR R@1 | TR R@5 | TR R@10 | IR R@1 | IR R@5 | IR R@10 | RSUM |\n|---|---|---|---|---|---|---|---|---|\n");
        for (JsonNode r : results.rows("recall")) {
            md.append(String.format(Locale.ROOT, "| %s | %s | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |\n", r.path("mode").asText(), k(r),
                r.path("tr_r1").asDouble(), r.path("tr_r5").asDouble(), r.path("tr_r10").asDouble(), r.path("ir_r1").asDouble(),
                r.path("ir_r5").asDouble(), r.path("ir_r10").asDouble(), r.path("rsum").asDouble()));
        }
        md.append(String.format(Locale.ROOT, "\nknn_itm_itc ranks by ITM logit + %s x ITC dot product.\n", results.itcWeight()));
        if (results.unindexableImages() > 0) {
            md.append(String.format(Locale.ROOT, "\n%d images of the split cannot be indexed (unindexable-images.tsv) and are left out "
                + "with their captions: the recall above is over the others.\n", results.unindexableImages()));
        }
        for (JsonNode r : results.rows("ann")) {
            md.append(String.format(Locale.ROOT, "\nANN loss: the node's knn top-10 holds %.2f%% of the exact ITC top-10 (num_candidates %d).\n",
                100 * r.path("recall_at_10").asDouble(), r.path("ann_param").asInt()));
        }
        md.append(String.format(Locale.ROOT, "\n## Latency: text->image, %s\n\n", results.dataset()));
        md.append("| mode | k | concurrency | p50 ms | p95 ms | p99 ms | QPS | × FLOP floor |\n|---|---|---|---|---|---|---|---|\n");
        for (JsonNode r : results.rows("latency")) {
            md.append(String.format(Locale.ROOT, "| %s | %s | %d | %.1f | %.1f | %.1f | %.1f | %s |\n", r.path("mode").asText(), k(r),
                r.path("concurrency").asInt(), r.path("latency_p50_ms").asDouble(), r.path("latency_p95_ms").asDouble(),
                r.path("latency_p99_ms").asDouble(), r.path("qps").asDouble(),
                r.has("flop_floor_multiple") ? String.format(Locale.ROOT, "%.2f", r.path("flop_floor_multiple").asDouble()) : ""));
        }
        md.append(String.format(Locale.ROOT, "\nFLOP floor: k × %,d FLOPs per pair at the %.1f GFLOP/s GEMM rate measured in this run; "
            + "the multiple is (p50 with rescore − p50 of knn alone) over it, at concurrency 1.\n", results.flopsPerPair(), results.gemmGflops()));
        for (Results.Agreement a : results.agreements()) {
            md.append(String.format(Locale.ROOT, "Client-side rerank k=%d: top-1 equal to the plugin's for %.1f%% of the latency queries.\n",
                a.k(), 100 * a.share()));
        }
        return md.toString();
    }

    private XYSeriesCollection recallSeries() {
        XYSeriesCollection collection = new XYSeriesCollection();
        TreeSet<Integer> ks = new TreeSet<>();
        results.rows("recall").stream().map(r -> r.path("k").asInt()).filter(k -> k > 0).forEach(ks::add);
        for (Mode mode : List.of(Mode.KNN_ITM, Mode.KNN_ITM_ITC)) {
            collection.addSeries(series(mode.label() + " IR R@1", "recall", mode, r -> r.path("ir_r1").asDouble(), ks));
            collection.addSeries(series(mode.label() + " TR R@1", "recall", mode, r -> r.path("tr_r1").asDouble(), ks));
        }
        for (Mode mode : List.of(Mode.KNN_ITC, Mode.EXACT_ITC)) {
            collection.addSeries(series(mode.label() + " IR R@1", "recall", mode, r -> r.path("ir_r1").asDouble(), ks));
        }
        return collection;
    }

    private XYSeriesCollection latencySeries() {
        XYSeriesCollection collection = new XYSeriesCollection();
        TreeSet<Integer> ks = new TreeSet<>();
        results.rows("latency").stream().map(r -> r.path("k").asInt()).filter(k -> k > 0).forEach(ks::add);
        for (Mode mode : List.of(Mode.KNN_ITM, Mode.KNN_ITM_ITC, Mode.CLIENT_RERANK, Mode.KNN_ITC)) {
            collection.addSeries(series(mode.label() + " p50", "latency", mode, r -> r.path("latency_p50_ms").asDouble(), ks));
        }
        return collection;
    }

    /** A mode's value against k; a mode without a window (k = 0) is drawn flat across every k. */
    private XYSeries series(String name, String record, Mode mode, ToDoubleFunction<JsonNode> value, TreeSet<Integer> ks) {
        XYSeries series = new XYSeries(name);
        for (JsonNode r : results.rows(record)) {
            if (r.path("mode").asText().equals(mode.label()) == false || (r.has("concurrency") && r.path("concurrency").asInt() != 1)) {
                continue;
            }
            if (r.path("k").asInt() == 0) {
                ks.forEach(k -> series.add((double) k, value.applyAsDouble(r)));
            } else {
                series.add((double) r.path("k").asInt(), value.applyAsDouble(r));
            }
        }
        return series;
    }

    private void plot(String file, String title, String yLabel, java.util.function.Supplier<XYSeriesCollection> data) throws IOException {
        JFreeChart chart = ChartFactory.createXYLineChart(title, "rerank window k", yLabel, data.get(), PlotOrientation.VERTICAL, true, false, false);
        XYPlot plot = chart.getXYPlot();
        plot.setBackgroundPaint(Color.WHITE);
        plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
        plot.setDomainGridlinePaint(Color.LIGHT_GRAY);
        // Recall differences between modes are a few points: an axis from zero would flatten them.
        ((NumberAxis) plot.getRangeAxis()).setAutoRangeIncludesZero(false);
        plot.getDomainAxis().setStandardTickUnits(NumberAxis.createIntegerTickUnits());
        XYLineAndShapeRenderer renderer = new XYLineAndShapeRenderer(true, true);
        for (int i = 0; i < plot.getDataset().getSeriesCount(); i++) {
            renderer.setSeriesStroke(i, new BasicStroke(2f));
        }
        plot.setRenderer(renderer);
        ChartUtils.saveChartAsPNG(directory.resolve(file).toFile(), chart, 900, 540);
    }

    private static String k(JsonNode row) {
        return row.path("k").asInt() == 0 ? "–" : row.path("k").asText();
    }
}
