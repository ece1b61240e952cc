package io.fuserank.benchmarks.recall;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.fuserank.benchmarks.BruteForce;
import io.fuserank.benchmarks.EsJson;
import io.fuserank.benchmarks.GemmProbe;
import io.fuserank.encoder.Precision;
import io.fuserank.benchmarks.SearchStats;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;

/**
 * Recall in the Flickr30K/COCO protocol through a live node, with latency, for every mode in one
 * run: exact ITC in this process, the node's knn, knn + the plugin's ITM rescore (ALBEF's ITM and
 * BLIP's ITM + ITC) at each window, and a client-side rerank for comparison. See
 * {@code benchmarks/README.md} for the output files.
 */
@Command(name = "recall-benchmark", mixinStandardHelpOptions = true, sortOptions = false,
    description = "Index a Karpathy-format split into a live node with the fuserank CLI, run every caption as a "
        + "text->image query and every image as an image->text query in each mode, and report TR/IR R@1/5/10 "
        + "(ALBEF's itm_eval), latency percentiles and QPS at each concurrency, and the rescore's FLOP-floor multiple.")
public final class RecallHarness implements Callable<Integer> {

    @Option(names = "--ann", required = true, paramLabel = "JSON", description = "Karpathy-format annotations (e.g. flickr30k_test.json).")
    Path annotations;

    @Option(names = "--image-root", required = true, paramLabel = "DIR", description = "The directory the annotation image paths are relative to.")
    Path imageRoot;

    @Option(names = "--model", required = true, paramLabel = "DIR", description = "The model bundle (the node must serve the same one).")
    Path model;

    @Option(names = "--model-id", paramLabel = "ID", description = "The model id on the node (default: the bundle's name).")
    String modelId;

    @Option(names = "--url", defaultValue = "http://127.0.0.1:9200", paramLabel = "URL", description = "The node (default: ${DEFAULT-VALUE}).")
    String url;

    @Option(names = "--dataset", paramLabel = "NAME", description = "The dataset's name in the outputs (default: the annotation file's name).")
    String dataset;

    @Option(names = "--ks", split = ",", defaultValue = "16,32,64,128", paramLabel = "K", description = "Rerank windows (default: ${DEFAULT-VALUE}).")
    List<Integer> ks;

    @Option(names = "--concurrency", split = ",", defaultValue = "1,4,16", paramLabel = "N", description = "Client threads for the latency runs (default: ${DEFAULT-VALUE}).")
    List<Integer> concurrency;

    @Option(names = "--latency-queries", defaultValue = "200", paramLabel = "N", description = "Captions per latency run (default: ${DEFAULT-VALUE}).")
    int latencyQueries;

    @Option(names = "--recall-concurrency", defaultValue = "2", paramLabel = "N", description = "Client threads for the recall pass (default: ${DEFAULT-VALUE}).")
    int recallConcurrency;

    @Option(names = "--max-images", defaultValue = "0", paramLabel = "N", description = "Use only the first N images and their captions (0: all).")
    int maxImages;

    @Option(names = "--precision", paramLabel = "P", description = "fp32 or int8: the graphs of the in-process model, which must be "
        + "the node's (fuserank.inference.precision; recall-benchmark sets both from FUSERANK_BENCH_PRECISION) (default: the model's).")
    String precision;

    @Option(names = "--threads", defaultValue = "2", paramLabel = "N", description = "Intra-op threads of the in-process model (default: ${DEFAULT-VALUE}).")
    int threads;

    @Option(names = "--reuse-indices", description = "Query the indices as they are instead of rebuilding them.")
    boolean reuseIndices;

    @Option(names = "--index-prefix", defaultValue = "fuserank-bench", paramLabel = "NAME", description = "Index names: PREFIX-DATASET-images and -captions (default: ${DEFAULT-VALUE}).")
    String indexPrefix;

    @Option(names = "--out", paramLabel = "DIR", description = "Output directory (default: benchmarks/target/recall/DATASET).")
    Path out;

    @Option(names = "--itc-weight", paramLabel = "W",
        description = "itc_weight of the knn_itm_itc mode: ITM logit + W x ITC (default: left to the plugin, which takes the model's, "
            + "its manifest's rerank.itc_weight chosen on validation data by encoder/training/blend_weight.py, or 1 where it names none).")
    Float itcWeight;

    @Option(names = "--results-index", paramLabel = "NAME", description = "Also write every result row into this index (mapping: results-index.json), e.g. for the Kibana dashboard.")
    String resultsIndex;

    public static void main(String[] args) {
        // Later options win, so a wrapper script's defaults can be overridden by its caller's.
        System.exit(new CommandLine(new RecallHarness()).setOverwrittenOptionsAllowed(true).execute(args));
    }

    @Override
    public Integer call() throws Exception {
        validate();
        EvalSplit listed = EvalSplit.load(annotations, imageRoot).limit(maxImages);
        String name = dataset != null ? dataset : annotations.getFileName().toString().replaceFirst("\\.json$", "");
        Path outDir = out != null ? out : Path.of("benchmarks", "target", "recall", name);
        Files.createDirectories(outDir);
        String runId = name + "-" + Instant.now().toString();
        EsJson engine = new EsJson(URI.create(url), new ObjectMapper(), Duration.ofMinutes(10));
        log("%s: %d images, %d captions; node %s", name, listed.imagePaths().size(), listed.captions().size(), url);

        try (InProcessModel local = InProcessModel.open(model, threads, ks.stream().max(Integer::compare).orElse(16),
            precision == null ? null : Precision.fromLabel(precision))) {
            String id = modelId != null ? modelId : local.bundle().name();
            String imageIndex = indexPrefix + "-" + name + "-images";
            String captionIndex = indexPrefix + "-" + name + "-captions";
            // Images the encoder refuses (the CLI would dead-letter them) leave the evaluation with
            // their captions; the rest is indexed and evaluated.
            InProcessModel.ImageEmbeddings embedded = local.imageEmbeddings(listed);
            EvalSplit split = listed.without(embedded.refused().keySet());
            Path unindexable = writeUnindexable(outDir, listed, embedded.refused());
            if (embedded.refused().isEmpty() == false) {
                log("%d of %d images cannot be indexed (listed in %s): evaluating the other %d images and their %d captions",
                    embedded.refused().size(), listed.imagePaths().size(), unindexable.toAbsolutePath(),
                    split.imagePaths().size(), split.captions().size());
            }
            if (split.imagePaths().isEmpty()) {
                throw new IOException("none of the [" + listed.imagePaths().size() + "] images can be indexed: see " + unindexable);
            }
            if (reuseIndices == false) {
                Path ann = split != listed || maxImages > 0 ? split.writeKarpathy(outDir.resolve("annotations.json")) : annotations;
                long start = System.nanoTime();
                IndexSetup.build(engine, model, id, ann, imageRoot, imageIndex, "image", split.imagePaths().size(), outDir);
                IndexSetup.build(engine, model, id, ann, imageRoot, captionIndex, "caption", split.captions().size(), outDir);
                log("indexed both in %.1f s", (System.nanoTime() - start) / 1e9);
            }
            EngineQueries queries = new EngineQueries(engine, local, id, split, imageIndex, captionIndex, itcWeight);
            float effectiveItcWeight = itcWeight != null ? itcWeight : local.bundle().itcWeight();
            log("knn_itm_itc ranks by ITM logit + %s x ITC (%s)", effectiveItcWeight, itcWeight != null ? "--itc-weight" : "the model's");
            Results results = new Results(runId, name, id, effectiveItcWeight, embedded.refused().size());

            // Exact ITC in this process: the reference the ANN loss is measured against.
            float[][] imageVectors = embedded.kept();
            float[][] captionVectors = local.captionEmbeddings(split.captions());
            BruteForce exact = new BruteForce(List.of(imageVectors));
            float[][] t2i = ExactItc.scores(captionVectors, exact);
            float[][] i2t = ExactItc.transpose(t2i);
            results.recall(new Mode.Setting(Mode.EXACT_ITC, 0), new RetrievalRecall.Recall(
                RetrievalRecall.Direction.fromRanks(RetrievalRecall.imageToTextRanks(i2t, split.imageCaptions())),
                RetrievalRecall.Direction.fromRanks(RetrievalRecall.textToImageRanks(t2i, split.captionImage()))),
                split.captions().size(), split.imagePaths().size());

            for (Mode.Setting setting : engineSettings()) {
                QueryRunner.Timed text = QueryRunner.run(setting.label() + " text->image", split.captions().size(), recallConcurrency,
                    t -> queries.textToImage(t, setting));
                QueryRunner.Timed image = QueryRunner.run(setting.label() + " image->text", split.imagePaths().size(), recallConcurrency,
                    i -> queries.imageToText(i, setting));
                RetrievalRecall.Recall recall = new RetrievalRecall.Recall(
                    RetrievalRecall.Direction.fromRanks(captionRanks(split, image.answers())),
                    RetrievalRecall.Direction.fromRanks(imageRanks(split, text.answers())));
                results.recall(setting, recall, split.captions().size(), split.imagePaths().size());
                log("%-22s %s", setting.label(), Results.recallLine(recall));
                if (setting.mode() == Mode.KNN_ITC) {
                    List<int[]> truth = new ArrayList<>();
                    for (float[] caption : captionVectors) {
                        truth.add(exact.topK(caption, SearchBodies.SIZE));
                    }
                    double overlap = SearchStats.meanRecallAtK(truth, List.of(text.answers()), SearchBodies.SIZE);
                    results.annLoss(SearchBodies.numCandidates(SearchBodies.SIZE), overlap);
                    log("knn top-10 against exact ITC top-10: recall@10 %.4f (num_candidates %d)", overlap, SearchBodies.numCandidates(SearchBodies.SIZE));
                }
            }

            latency(split, queries, results);

            try (GemmProbe gemm = new GemmProbe(GemmProbe.FLOOR_SHAPE, threads)) {
                double gflops = gemm.measureGflops(3, 15);
                results.flopFloor(gflops, local.bundle().fusionFlopsPerPair());
                log("GEMM floor %s: %.1f GFLOP/s on %d threads", GemmProbe.FLOOR_SHAPE, gflops, threads);
            }

            new RecallReport(results, outDir).write();
            if (resultsIndex != null) {
                ResultsIndex.write(engine, resultsIndex, results.rows());
                log("wrote %d rows to index [%s]", results.rows().size(), resultsIndex);
            }
            log("outputs in %s", outDir.toAbsolutePath());
        }
        return 0;
    }

    /**
     * {@code unindexable-images.tsv} in {@code outDir}: each refused image's path and reason (a
     * header only when there is none), so a run always says what it left out.
     */
    static Path writeUnindexable(Path outDir, EvalSplit listed, Map<Integer, String> refused) throws IOException {
        StringBuilder tsv = new StringBuilder("image\treason\n");
        refused.forEach((image, reason) -> tsv.append(listed.imagePaths().get(image)).append('\t')
            .append(reason.replace('\t', ' ').replace('\n', ' ')).append('\n'));
        return Files.writeString(outDir.resolve("unindexable-images.tsv"), tsv);
    }

    private void latency(EvalSplit split, EngineQueries queries, Results results) throws Exception {
        int n = Math.min(latencyQueries, split.captions().size());
        List<Mode.Setting> settings = new ArrayList<>(engineSettings());
        ks.forEach(k -> settings.add(new Mode.Setting(Mode.CLIENT_RERANK, k)));
        Map<Mode.Setting, int[][]> firstAnswers = new LinkedHashMap<>();
        for (Mode.Setting setting : settings) {
            QueryRunner.Query query = setting.mode() == Mode.CLIENT_RERANK
                ? t -> queries.clientRerank(t, setting.k())
                : t -> queries.textToImage(t, setting);
            QueryRunner.run(setting.label() + " warm-up", Math.min(20, n), 1, query);
            for (int c : concurrency) {
                QueryRunner.Timed timed = QueryRunner.run(setting.label() + " at concurrency " + c, n, c, query);
                SearchStats.Latency latency = timed.latency();
                results.latency(setting, c, latency);
                log("%-22s c=%-3d p50 %7.1f ms  p95 %7.1f ms  p99 %7.1f ms  %7.1f QPS", setting.label(), c,
                    latency.p50Millis(), latency.p95Millis(), latency.p99Millis(), latency.qps());
                firstAnswers.putIfAbsent(setting, timed.answers());
            }
        }
        // The client-side rerank must rank what the plugin ranks: the same blobs, model and scores.
        for (int k : ks) {
            int[][] engineAnswers = firstAnswers.get(new Mode.Setting(Mode.KNN_ITM, k));
            int[][] clientAnswers = firstAnswers.get(new Mode.Setting(Mode.CLIENT_RERANK, k));
            int same = 0;
            for (int i = 0; i < n; i++) {
                same += engineAnswers[i].length > 0 && clientAnswers[i].length > 0 && engineAnswers[i][0] == clientAnswers[i][0] ? 1 : 0;
            }
            results.agreement(k, (double) same / n);
            log("client rerank k=%d: top-1 equal to the plugin's for %d of %d captions", k, same, n);
        }
    }

    private List<Mode.Setting> engineSettings() {
        List<Mode.Setting> settings = new ArrayList<>(List.of(new Mode.Setting(Mode.KNN_ITC, 0)));
        ks.forEach(k -> settings.add(new Mode.Setting(Mode.KNN_ITM, k)));
        ks.forEach(k -> settings.add(new Mode.Setting(Mode.KNN_ITM_ITC, k)));
        return settings;
    }

    static int[] imageRanks(EvalSplit split, int[][] answers) {
        int[] ranks = new int[answers.length];
        for (int t = 0; t < answers.length; t++) {
            int target = split.captionImage()[t];
            ranks[t] = RetrievalRecall.firstRelevant(answers[t], image -> image == target);
        }
        return ranks;
    }

    static int[] captionRanks(EvalSplit split, int[][] answers) {
        int[] ranks = new int[answers.length];
        for (int i = 0; i < answers.length; i++) {
            int image = i;
            ranks[i] = RetrievalRecall.firstRelevant(answers[i], caption -> split.captionImage()[caption] == image);
        }
        return ranks;
    }

    private void validate() {
        Set<Integer> seen = new HashSet<>();
        for (int k : ks) {
            if (k < 1 || k > 256) {
                throw new CommandLine.ParameterException(new CommandLine(this), "--ks value [" + k + "] must be in [1, 256] (the plugin's fuserank.rescore.max_window default)");
            }
            if (seen.add(k) == false) {
                throw new CommandLine.ParameterException(new CommandLine(this), "--ks value [" + k + "] is given twice");
            }
        }
        for (int c : concurrency) {
            if (c < 1) {
                throw new CommandLine.ParameterException(new CommandLine(this), "--concurrency value [" + c + "] must be at least 1");
            }
        }
        if (itcWeight != null && (Float.isFinite(itcWeight) == false || itcWeight < 0)) {
            throw new CommandLine.ParameterException(new CommandLine(this), "--itc-weight [" + itcWeight + "] must be a finite number >= 0");
        }
        if (latencyQueries < 1 || recallConcurrency < 1 || threads < 1) {
            throw new CommandLine.ParameterException(new CommandLine(this), String.format(Locale.ROOT,
                "--latency-queries [%d], --recall-concurrency [%d] and --threads [%d] must be at least 1", latencyQueries, recallConcurrency, threads));
        }
    }

    static void log(String format, Object... args) {
        System.out.println(String.format(Locale.ROOT, format, args));
    }
}
