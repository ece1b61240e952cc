package io.fuserank.benchmarks;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.github.jelmerk.hnswlib.core.DistanceFunction;
import com.github.jelmerk.hnswlib.core.DistanceFunctions;
import com.github.jelmerk.hnswlib.core.Item;
import com.github.jelmerk.hnswlib.core.SearchResult;
import com.github.jelmerk.hnswlib.core.hnsw.HnswIndex;
import io.fuserank.benchmarks.recall.EvalSplit;
import io.fuserank.benchmarks.recall.InProcessModel;
import io.fuserank.benchmarks.recall.ResultsIndex;
import io.fuserank.encoder.ModelBundle;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * Approximate nearest-neighbour search on the same vectors: brute force (the ground truth and
 * the latency baseline), hnswlib-java and Lucene HNSW through a live Elasticsearch node
 * ({@code hnsw} and {@code int8_hnsw} index options), recall@10 against latency in one table.
 *
 * <p>Every image of a Karpathy-format split is encoded once in this process (the ITC vectors are
 * the documents) and every caption is a query. Each engine is searched single-threaded, one query
 * at a time, after a warm-up; the table is printed and written to {@code --out} as ann.md and
 * ann.json, and optionally one document per row goes to a results index.
 */
@Command(
    name = "ann-comparison",
    mixinStandardHelpOptions = true,
    sortOptions = false,
    showDefaultValues = true,
    description = "ANN comparison on the same vectors: brute force, hnswlib-java and Elasticsearch HNSW; "
        + "recall@10 against latency in one table."
)
public final class AnnComparison implements Callable<Integer> {

    static final int K = 10;
    private static final String VECTOR_FIELD = "image_vector";

    @Spec
    private CommandSpec spec;

    @Option(names = "--ann", required = true, paramLabel = "JSON",
        description = "Karpathy-format annotations: [{\"image\": rel_path, \"caption\": [...]}].")
    private Path annotations;

    @Option(names = "--image-root", required = true, paramLabel = "DIR", description = "The directory the image paths are relative to.")
    private Path imageRoot;

    @Option(names = "--model", defaultValue = "models/fuserank-small", paramLabel = "DIR", description = "Model bundle directory.")
    private Path model;

    @Option(names = "--url", defaultValue = "http://localhost:9200", description = "Elasticsearch node URL.")
    private URI url;

    @Option(names = "--no-es", description = "Leave Elasticsearch out (brute force and hnswlib only).")
    private boolean noEs;

    @Option(names = "--out", defaultValue = "benchmarks/target/ann", paramLabel = "DIR", description = "Where ann.md and ann.json go.")
    private Path out;

    @Option(names = "--results-index", paramLabel = "NAME",
        description = "Also write one document per row (record \"ann\") into this index, created with results-index.json if missing.")
    private String resultsIndex;

    @Option(names = "--dataset", paramLabel = "NAME", description = "Dataset name for the output (default: <annotation dir>/<file stem>).")
    private String dataset;

    @Option(names = "--ef", split = ",", defaultValue = "10,20,40,80,160", description = "hnswlib search ef values.")
    private List<Integer> efs;

    @Option(names = "--num-candidates", split = ",", defaultValue = "10,20,40,80,160", description = "Elasticsearch knn num_candidates values.")
    private List<Integer> numCandidates;

    @Option(names = "--index-options", split = ",", defaultValue = "hnsw,int8_hnsw",
        description = "Elasticsearch dense_vector index_options types, one index each.")
    private List<String> indexTypes;

    @Option(names = "--m", defaultValue = "16", description = "HNSW m (hnswlib and Elasticsearch).")
    private int m;

    @Option(names = "--ef-construction", defaultValue = "100", description = "HNSW ef_construction (hnswlib and Elasticsearch).")
    private int efConstruction;

    @Option(names = "--flat-index-threshold", defaultValue = "0", paramLabel = "N",
        description = "Elasticsearch index_options flat_index_threshold: 0 always builds the HNSW graph; -1 leaves "
            + "Elasticsearch's dynamic default, under which Lucene builds no graph for a small segment and searches it exhaustively.")
    private int flatIndexThreshold;

    @Option(names = "--profile-queries", defaultValue = "100", paramLabel = "N",
        description = "Elasticsearch queries re-run with profile (untimed) per row to count the vectors compared.")
    private int profileQueries;

    @Option(names = "--queries", defaultValue = "0", description = "Use only the first N captions as queries (0: all).")
    private int queryLimit;

    @Option(names = "--warmup", defaultValue = "500", description = "Untimed queries before each row's timed run.")
    private int warmup;


    @Option(names = "--threads", defaultValue = "0", description = "ONNX Runtime intra-op threads for encoding (0: its default).")
    private int threads;

    @Option(names = "--index-prefix", defaultValue = "fuserank-ann", paramLabel = "NAME",
        description = "Elasticsearch index names are PREFIX-<index options type>; an existing one is deleted and recreated.")
    private String indexPrefix;

    @Option(names = "--keep-indices", description = "Leave the Elasticsearch indices in place after the run.")
    private boolean keepIndices;

    private final ObjectMapper json = new ObjectMapper();

    public static void main(String[] args) {
        System.exit(new CommandLine(new AnnComparison()).execute(args));
    }

    /** One engine's search of one query: the result ids, best first. */
    @FunctionalInterface
    interface Search {
        int[] search(int query) throws IOException;
    }

    /** The results of a timed run (per query) and its latency. */
    record Timed(List<int[]> results, SearchStats.Latency latency) {
    }

    /** hnswlib's item: the image ordinal and its vector. */
    record ImageVector(Integer id, float[] vector) implements Item<Integer, float[]> {
        @Override
        public int dimensions() {
            return vector.length;
        }
    }

    /** hnswlib's inner-product distance (1 - dot), counting its calls: the vectors a search compares. */
    static final class CountingInnerProduct implements DistanceFunction<float[], Float> {
        private static final long serialVersionUID = 1L;
        private long calls;

        @Override
        public Float distance(float[] a, float[] b) {
            calls++;
            return DistanceFunctions.FLOAT_INNER_PRODUCT.distance(a, b);
        }

        long calls() {
            return calls;
        }

        void reset() {
            calls = 0;
        }
    }

    @Override
    public Integer call() throws Exception {
        validate();
        ModelBundle bundle = ModelBundle.load(model);
        String datasetName = dataset != null ? dataset : defaultDataset(annotations);
        EvalSplit split = EvalSplit.load(annotations, imageRoot);
        log("%d images, %d captions in [%s]", split.imagePaths().size(), split.captions().size(), annotations);

        List<float[]> images;
        List<float[]> captions;
        long start = System.nanoTime();
        try (InProcessModel encoders = InProcessModel.open(model, threads, 1)) {
            InProcessModel.ImageEmbeddings embedded = encoders.imageEmbeddings(split);
            images = List.of(embedded.kept());
            if (embedded.refused().isEmpty() == false) {
                log("%d images cannot be encoded and are left out, e.g. [%s]: %s", embedded.refused().size(),
                    split.imagePaths().get(embedded.refused().firstKey()), embedded.refused().get(embedded.refused().firstKey()));
            }
            captions = List.of(encoders.captionEmbeddings(split.captions()));
        }
        log("encoded %d images and %d captions in %.1f s", images.size(), captions.size(), (System.nanoTime() - start) / 1e9);
        List<float[]> queries = queryLimit > 0 ? captions.subList(0, Math.min(queryLimit, captions.size())) : captions;
        int warm = Math.min(warmup, queries.size());

        AnnReport report = new AnnReport();
        ObjectNode meta = json.createObjectNode();
        BruteForce exact = new BruteForce(images);
        List<int[]> truth = new ArrayList<>();
        for (float[] q : queries) {
            truth.add(exact.topK(q, K));
        }
        Timed brute = time(queries.size(), warm, q -> exact.topK(queries.get(q), K));
        report.add(new AnnReport.Row("brute_force", "exact", null, SearchStats.meanRecallAtK(truth, brute.results(), K),
            brute.latency(), null, null, (double) exact.size()));
        log("brute force: p50 %.3f ms", brute.latency().p50Millis());

        hnswlib(images, queries, truth, warm, report, meta);
        if (!noEs) {
            elasticsearch(bundle, images, queries, truth, warm, report, meta);
        }

        addNotes(report, bundle, meta, datasetName, images.size(), queries.size(), warm);

        String markdown = report.markdown();
        System.out.println();
        System.out.print(markdown);
        writeOutputs(report, markdown, meta, datasetName, bundle.name(), images.size(), queries.size(), warm);
        return 0;
    }

    private void hnswlib(List<float[]> images, List<float[]> queries, List<int[]> truth, int warm, AnnReport report,
                         ObjectNode meta) {
        CountingInnerProduct distance = new CountingInnerProduct();
        HnswIndex<Integer, float[], ImageVector, Float> index = HnswIndex
            .newBuilder(images.get(0).length, distance, images.size())
            .withM(m).withEfConstruction(efConstruction).withEf(efs.get(0)).build();
        long start = System.nanoTime();
        for (int i = 0; i < images.size(); i++) {
            index.add(new ImageVector(i, images.get(i)));
        }
        double buildSeconds = (System.nanoTime() - start) / 1e9;
        log("hnswlib: built in %.2f s", buildSeconds);
        meta.putObject("hnswlib").put("m", m).put("ef_construction", efConstruction).put("build_s", buildSeconds);
        for (int ef : efs) {
            index.setEf(ef);
            distance.reset();
            Timed run = time(queries.size(), warm, q -> ids(index.findNearest(queries.get(q), K)));
            double vectorOps = (double) distance.calls() / (warm + queries.size());
            report.add(new AnnReport.Row("hnswlib", "ef", ef, SearchStats.meanRecallAtK(truth, run.results(), K), run.latency(),
                buildSeconds, null, vectorOps));
            log("hnswlib ef=%d: recall@10 %.4f, p50 %.3f ms", ef, report.rows().getLast().recallAt10(), run.latency().p50Millis());
        }
    }

    /** The table's footnotes: what was measured and how, so that the rows are read right. */
    private void addNotes(AnnReport report, ModelBundle bundle, ObjectNode meta, String datasetName, int imageCount,
                          int queryCount, int warm) {
        report.note(String.format(Locale.ROOT, "%d images and %d caption queries of [%s], encoded once in-process with [%s] "
                + "(%d dims, L2-normalised, %s); ground truth: brute-force exact top-%d.",
            imageCount, queryCount, datasetName, bundle.name(), bundle.embeddingDim(), bundle.similarity(), K));
        report.note(String.format(Locale.ROOT, "Latency per query, one thread, after %d warm-up queries per row; QPS = timed "
            + "queries / wall time of the timed loop.", warm));
        report.note("brute force and hnswlib run in this JVM: their latency has no HTTP. Elasticsearch latency is "
            + "client-observed (JDK HttpClient, HTTP/1.1 keep-alive: request JSON, round-trip, response parsing); "
            + "'server took' is the mean of Elasticsearch's own `took` (whole milliseconds per query, hence the mean).");
        report.note(String.format(Locale.ROOT, "hnswlib-java: m=%d, ef_construction=%d, inner-product distance, built on one "
            + "thread (build s = adding every vector); parameter = search ef.", m, efConstruction));
        String counted = "vectors compared per query: brute force compares every vector; hnswlib counts its distance calls";
        if (noEs) {
            report.note(counted + ".");
            return;
        }
        report.note(String.format(Locale.ROOT, "Elasticsearch %s: one index per index_options type (1 shard, 0 replicas, "
                + "m=%d, ef_construction=%d, similarity %s), each **force-merged to 1 segment** before searching "
                + "(a graph per segment changes recall; segments searched after the merge: %s); build s = bulk indexing "
                + "+ refresh + force merge; knn k=%d, parameter = num_candidates. %s",
            meta.path("elasticsearch").path("version").asText("?"), m, efConstruction, bundle.similarity(), segmentCounts(meta), K,
            flatIndexThreshold == -1
                ? "flat_index_threshold left at Elasticsearch's dynamic default: a segment this small may have no graph and be searched exhaustively."
                : "flat_index_threshold=" + flatIndexThreshold + (flatIndexThreshold == 0 ? " (always build the graph; the "
                    + "dynamic default builds none for a segment this small and searches it exhaustively)." : ".")));
        report.note(String.format(Locale.ROOT, "%s; Elasticsearch's is the mean knn profile `vector_operations_count` of the "
            + "first %d queries (re-run untimed with profile). A count equal to the number of images means an exhaustive scan.",
            counted, Math.min(profileQueries, queryCount)));
        if (indexTypes.stream().anyMatch(t -> t.startsWith("int8"))) {
            report.note("int8_hnsw builds and searches the graph on int8-quantised vectors and returns their scores "
                + "(no rescore_vector), so its recall stays below 1 even when every vector is compared.");
        }
    }

    /** "hnsw 1, int8_hnsw 1": the searchable segments of each Elasticsearch index after its force merge. */
    private String segmentCounts(ObjectNode meta) {
        List<String> counts = new ArrayList<>();
        for (String type : indexTypes) {
            counts.add(type + " " + meta.path("elasticsearch").path(type).path("segments_after_force_merge").asText("?"));
        }
        return String.join(", ", counts);
    }

    private static int[] ids(List<SearchResult<ImageVector, Float>> results) {
        return results.stream().mapToInt(r -> r.item().id()).toArray();
    }

    private void elasticsearch(ModelBundle bundle, List<float[]> images, List<float[]> queries, List<int[]> truth, int warm,
                               AnnReport report, ObjectNode meta) throws IOException {
        EsJson es = new EsJson(url, json, Duration.ofMinutes(10));
        JsonNode nodes = es.send("GET", "/_nodes/_local?filter_path=nodes.*.version", null).path("nodes");
        ObjectNode esMeta = meta.putObject("elasticsearch");
        esMeta.put("url", es.base().toString());
        esMeta.put("version", nodes.isObject() && nodes.size() > 0 ? nodes.elements().next().path("version").asText() : "?");
        List<String> vectorJson = new ArrayList<>();
        for (float[] q : queries) {
            vectorJson.add(json.writeValueAsString(q));
        }
        for (String type : indexTypes) {
            String index = indexPrefix + "-" + type.toLowerCase(Locale.ROOT);
            ObjectNode typeMeta = esMeta.putObject(type);
            typeMeta.put("index", index);
            double buildSeconds = buildIndex(es, bundle, index, type, images, typeMeta);
            for (int candidates : numCandidates) {
                List<Long> took = new ArrayList<>();
                String knn = String.format(Locale.ROOT, "\"track_total_hits\":false,\"knn\":{\"field\":\"%s\",\"k\":%d,"
                    + "\"num_candidates\":%d,\"query_vector\":", VECTOR_FIELD, K, candidates);
                String head = "{\"size\":" + K + ",\"_source\":false," + knn;
                String path = "/" + index + "/_search?filter_path=took,hits.hits._id";
                Timed run = time(queries.size(), warm, q -> {
                    JsonNode response = es.send("POST", path, head + vectorJson.get(q) + "}}");
                    took.add(response.path("took").asLong());
                    JsonNode hits = response.path("hits").path("hits");
                    int[] ids = new int[hits.size()];
                    for (int i = 0; i < ids.length; i++) {
                        ids[i] = Integer.parseInt(hits.get(i).path("_id").asText());
                    }
                    return ids;
                });
                // took holds the warm-up's values first
                double tookMean = took.subList(warm, took.size()).stream().mapToLong(Long::longValue).average().orElseThrow();
                double vectorOps = vectorOperations(es, index, "{\"size\":" + K + ",\"_source\":false,\"profile\":true," + knn, vectorJson);
                report.add(new AnnReport.Row("es_" + type, "num_candidates", candidates,
                    SearchStats.meanRecallAtK(truth, run.results(), K), run.latency(), buildSeconds, tookMean,
                    vectorOps));
                log("es %s num_candidates=%d: recall@10 %.4f, p50 %.3f ms", type, candidates,
                    report.rows().getLast().recallAt10(), run.latency().p50Millis());
            }
            if (!keepIndices) {
                es.send("DELETE", "/" + index, null);
            }
        }
    }

    /**
     * The mean number of vectors a knn search compared (the profile's {@code vector_operations_count}, over all
     * shards) for the first {@code --profile-queries} queries; null when not profiled.
     */
    private Double vectorOperations(EsJson es, String index, String head, List<String> vectorJson) throws IOException {
        int n = Math.min(profileQueries, vectorJson.size());
        if (n == 0) {
            return null;
        }
        long total = 0;
        for (int q = 0; q < n; q++) {
            JsonNode response = es.send("POST", "/" + index + "/_search?filter_path=profile.shards.dfs.knn.vector_operations_count",
                head + vectorJson.get(q) + "}}");
            for (JsonNode shard : response.path("profile").path("shards")) {
                for (JsonNode knn : shard.path("dfs").path("knn")) {
                    total += knn.path("vector_operations_count").asLong();
                }
            }
        }
        return (double) total / n;
    }

    /** Creates the index, bulk-indexes every image vector (id = ordinal), force-merges it to one segment; returns seconds. */
    private double buildIndex(EsJson es, ModelBundle bundle, String index, String type, List<float[]> images, ObjectNode meta)
        throws IOException {
        if (es.exists("/" + index)) {
            es.send("DELETE", "/" + index, null);
        }
        ObjectNode body = json.createObjectNode();
        body.putObject("settings").put("number_of_shards", 1).put("number_of_replicas", 0).put("refresh_interval", "-1");
        ObjectNode vector = body.putObject("mappings").put("dynamic", "strict").putObject("properties").putObject(VECTOR_FIELD);
        vector.put("type", "dense_vector").put("dims", bundle.embeddingDim()).put("index", true)
            .put("similarity", bundle.similarity());
        ObjectNode indexOptions = vector.putObject("index_options").put("type", type).put("m", m).put("ef_construction", efConstruction);
        if (flatIndexThreshold != -1) {
            indexOptions.put("flat_index_threshold", flatIndexThreshold);
        }
        es.send("PUT", "/" + index, body.toString());

        long start = System.nanoTime();
        for (int from = 0; from < images.size(); from += 500) {
            StringBuilder ndjson = new StringBuilder();
            for (int i = from; i < Math.min(images.size(), from + 500); i++) {
                ndjson.append("{\"index\":{\"_id\":\"").append(i).append("\"}}\n{\"").append(VECTOR_FIELD).append("\":")
                    .append(json.writeValueAsString(images.get(i))).append("}\n");
            }
            JsonNode response = es.bulk("/" + index + "/_bulk", ndjson.toString());
            if (response.path("errors").asBoolean()) {
                throw new IOException("bulk indexing into [" + index + "] failed: " + firstBulkError(response));
            }
        }
        es.send("POST", "/" + index + "/_refresh", null);
        double bulkSeconds = (System.nanoTime() - start) / 1e9;
        es.send("POST", "/" + index + "/_forcemerge?max_num_segments=1", null);
        es.send("POST", "/" + index + "/_refresh", null);
        double buildSeconds = (System.nanoTime() - start) / 1e9;

        long count = es.send("GET", "/" + index + "/_count", null).path("count").asLong();
        if (count != images.size()) {
            throw new IOException("[" + index + "] holds [" + count + "] documents, expected [" + images.size() + "]");
        }
        int segments = 0;
        for (JsonNode shard : es.send("GET", "/" + index + "/_segments", null).path("indices").path(index).path("shards")) {
            for (JsonNode copy : shard) {
                segments += copy.path("num_search_segments").asInt();
            }
        }
        JsonNode options = es.send("GET", "/" + index + "/_mapping", null)
            .path(index).path("mappings").path("properties").path(VECTOR_FIELD).path("index_options");
        meta.put("bulk_s", bulkSeconds).put("build_s", buildSeconds).put("segments_after_force_merge", segments);
        meta.set("index_options", options);
        log("es %s: %d docs indexed in %.2f s, force-merged to %d segment(s) by %.2f s; index_options %s",
            type, count, bulkSeconds, segments, buildSeconds, options);
        return buildSeconds;
    }

    private static String firstBulkError(JsonNode response) {
        for (JsonNode item : response.path("items")) {
            JsonNode error = item.path("index").path("error");
            if (!error.isMissingNode()) {
                return error.path("type").asText() + ": " + error.path("reason").asText();
            }
        }
        return "(no item error)";
    }

    /** Runs the first {@code warm} queries untimed, then every query timed one by one. */
    static Timed time(int queries, int warm, Search search) {
        try {
            for (int q = 0; q < warm; q++) {
                search.search(q);
            }
            List<int[]> results = new ArrayList<>(queries);
            long[] nanos = new long[queries];
            long start = System.nanoTime();
            for (int q = 0; q < queries; q++) {
                long t0 = System.nanoTime();
                int[] ids = search.search(q);
                nanos[q] = System.nanoTime() - t0;
                results.add(ids);
            }
            long wall = System.nanoTime() - start;
            return new Timed(results, SearchStats.Latency.of(nanos, wall));
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    static String defaultDataset(Path annotations) {
        String stem = annotations.getFileName().toString().replaceFirst("\\.json$", "");
        Path parent = annotations.toAbsolutePath().normalize().getParent();
        return parent == null || parent.getFileName() == null ? stem : parent.getFileName() + "/" + stem;
    }

    private void writeOutputs(AnnReport report, String markdown, ObjectNode meta, String datasetName, String modelName,
                              int imageCount, int queryCount, int warm) throws IOException {
        String runId = "ann-" + Instant.now().toString().replace(":", "").replace(".", "-");
        String timestamp = Instant.now().toString();
        ObjectNode doc = json.createObjectNode();
        doc.put("run_id", runId).put("@timestamp", timestamp).put("dataset", datasetName).put("model", modelName)
            .put("images", imageCount).put("queries", queryCount).put("k", K).put("warmup", warm);
        doc.setAll(meta);
        doc.set("rows", report.rowsJson(json));
        doc.set("notes", json.valueToTree(report.notes()));
        Files.createDirectories(out);
        Files.writeString(out.resolve("ann.md"), markdown, StandardCharsets.UTF_8);
        json.copy().enable(SerializationFeature.INDENT_OUTPUT).writeValue(out.resolve("ann.json").toFile(), doc);
        System.out.println();
        System.out.println("wrote [" + out.resolve("ann.md") + "] and [" + out.resolve("ann.json") + "]");
        if (resultsIndex != null) {
            writeResults(report, runId, timestamp, datasetName, modelName, queryCount);
        }
    }

    /** One document per row in the fields of results-index.json, written by the recall harness's {@link ResultsIndex}. */
    private void writeResults(AnnReport report, String runId, String timestamp, String datasetName, String modelName,
                              int queryCount) throws IOException {
        List<ObjectNode> docs = new ArrayList<>();
        for (JsonNode row : report.rowsJson(json)) {
            ObjectNode doc = json.createObjectNode();
            doc.put("record", "ann").put("dataset", datasetName).put("model", modelName).put("engine", row.path("engine").asText());
            if (!row.path("ann_param").isNull()) {
                doc.put("ann_param", row.path("ann_param").asInt());
            }
            doc.put("k", K).put("queries", queryCount);
            for (String field : List.of("recall_at_10", "latency_p50_ms", "latency_p95_ms", "qps")) {
                doc.set(field, row.path(field));
            }
            doc.put("@timestamp", timestamp).put("run_id", runId);
            docs.add(doc);
        }
        ResultsIndex.write(new EsJson(url, json, Duration.ofMinutes(2)), resultsIndex, docs);
        System.out.println("wrote " + docs.size() + " documents (run_id " + runId + ") into [" + resultsIndex + "]");
    }

    private void validate() {
        for (List<Integer> values : List.of(efs, numCandidates)) {
            for (int value : values) {
                if (value < K) {
                    throw new ParameterException(spec.commandLine(), "--ef and --num-candidates values must be >= k = " + K
                        + ", got [" + value + "]");
                }
            }
        }
        if (m < 2 || efConstruction < 1 || queryLimit < 0 || warmup < 0 || threads < 0 || profileQueries < 0
            || flatIndexThreshold < -1) {
            throw new ParameterException(spec.commandLine(), "need --m >= 2, --ef-construction >= 1, --queries >= 0, "
                + "--warmup >= 0, --threads >= 0, --profile-queries >= 0, --flat-index-threshold >= -1");
        }
        if (!Files.isRegularFile(annotations)) {
            throw new ParameterException(spec.commandLine(), "--ann [" + annotations + "] is not a file");
        }
        if (!Files.isDirectory(imageRoot)) {
            throw new ParameterException(spec.commandLine(), "--image-root [" + imageRoot + "] is not a directory");
        }
    }

    private static void log(String format, Object... args) {
        System.err.println("[ann] " + String.format(Locale.ROOT, format, args));
    }
}
