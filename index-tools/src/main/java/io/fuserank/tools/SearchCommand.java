package io.fuserank.tools;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.fuserank.encoder.ImageDecodeException;
import io.fuserank.encoder.InferenceOptions;
import io.fuserank.encoder.ModelBundle;
import io.fuserank.encoder.Precision;
import io.fuserank.reranker.FusionScorer;
import io.fuserank.reranker.ScoreMode;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.net.ConnectException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code fuserank search}: a text (or image) query against an image (or caption) index. By default
 * the nodes do everything: kNN with the plugin's {@code fuserank_text} / {@code fuserank_image}
 * query vector, then the {@code fuserank_itm} rescorer; the ITM and ITC parts of each score are
 * read from the rescorer's explanation. {@code --client-side} encodes the query and reranks here
 * with the local bundle instead (the cluster then needs no plugin).
 */
@Command(name = "search", mixinStandardHelpOptions = true, versionProvider = FuseRankCli.Version.class,
    description = {
        "Search an index with a text (or an image): kNN over the ITC vectors with the plugin's query vector builder, then "
            + "the fusion encoder's ITM rerank (fuserank_itm) of the top --window hits. Prints rank, _id, score and its "
            + "ITM and ITC parts (read from the rescorer's explanation) as a table, or JSON lines with --json.",
        "A text query searches image documents (image_vector, image_features), an image query caption documents "
            + "(text_vector, text_features); --kind, --vector-field and --features-field override that."
    })
final class SearchCommand implements Callable<Integer> {

    static final int DEFAULT_WINDOW = 32;
    /** Candidates per fusion call: the plugin's default, so a window is split into the same calls as on a node. */
    static final int FUSION_BATCH = FusionScorer.DEFAULT_MAX_BATCH;

    @Spec
    CommandSpec spec;

    @Mixin
    ConnectionOptions connection;

    @Parameters(index = "0", paramLabel = "INDEX", description = "The index (or alias, or comma-separated indices) to search.")
    String index;

    @Option(names = "--text", paramLabel = "TEXT", description = "A text query.")
    String text;

    @Option(names = "--image", paramLabel = "FILE", description = "An image query (any format the plugin decodes).")
    Path image;

    @Option(names = "--model", paramLabel = "DIR", description = "The model bundle directory; its name is the model id unless --model-id.")
    Path model;

    @Option(names = "--model-id", paramLabel = "ID", description = "The model id the plugin serves (default: the --model directory's name).")
    String modelId;

    @Option(names = {"--size", "--k"}, defaultValue = "10", paramLabel = "N",
        description = "Hits to print, Elasticsearch's size; kNN asks for max(size, window) (default: ${DEFAULT-VALUE}; --k is an alias).")
    int k;

    @Option(names = "--window", paramLabel = "N", description = "Hits the fusion encoder rescores (default: " + DEFAULT_WINDOW
        + "; 0: kNN only, the default when query and documents are the same modality).")
    Integer window;

    @Option(names = "--num-candidates", paramLabel = "N", description = "kNN num_candidates (default: max(64, 4 x max(k, window))).")
    Integer numCandidates;

    @Option(names = "--score-mode", paramLabel = "MODE",
        description = "itm, itm_plus_itc or blend (default: itm_plus_itc with --itc-weight, else the model's: its manifest's "
            + "rerank.score_mode, itm for an imported ALBEF, itm_plus_itc for BLIP and our own models).")
    String scoreMode;

    @Option(names = "--itc-weight", paramLabel = "W",
        description = "With --score-mode itm_plus_itc: ITM logit + W x ITC (default: the model's, its manifest's rerank.itc_weight, "
            + "chosen on validation data by encoder/training/blend_weight.py; 1 where it names none).")
    Float itcWeight;

    @Option(names = "--kind", paramLabel = "KIND", description = "The documents: image or caption (default: image for a text query, caption for an image query).")
    String kind;

    @Option(names = "--vector-field", paramLabel = "FIELD", description = "The dense_vector field (default: image_vector / text_vector).")
    String vectorField;

    @Option(names = "--features-field", paramLabel = "FIELD", description = "The token-features field (default: image_features / text_features).")
    String featuresField;

    @Option(names = "--json", description = "One JSON object per hit instead of a table.")
    boolean json;

    @Option(names = "--parts", description = "Print each score's ITM and ITC parts; with the plugin they come from the rescorer's "
        + "explanation (explain=true), which reuses the rescore's parts and runs no extra inference.")
    boolean parts;

    @Option(names = "--client-side", description = "Encode the query and rerank with the local bundle; the nodes only run kNN and return the stored features.")
    boolean clientSide;

    @Option(names = "--queries", paramLabel = "FILE",
        description = "Many queries in one run (one JVM, one connection, one model load), instead of --text / --image: one text a line, "
            + "or a JSON line {\"text\": TEXT} or {\"image\": FILE}; blank lines skipped; - is stdin. Prints JSON lines, each hit "
            + "with \"query\", the query's number from 0.")
    Path queriesFile;

    @Option(names = "--precision", converter = CommandSupport.PrecisionConverter.class, paramLabel = "P",
        description = "fp32 or int8: which of the model's graphs --client-side runs (default: the model's, its manifest's precisions.default).")
    Precision precision;

    @Option(names = "--threads", defaultValue = "0", paramLabel = "N", description = "ONNX Runtime intra-op threads for --client-side (default: 0, one per core).")
    int threads;

    @Override
    public Integer call() {
        if (queriesFile != null) {
            return searchBatch();
        }
        SearchRequests.Plan plan = plan();
        try (EsHttp es = EsHttp.connect(connection); ClientSideSearch local = clientSide ? openClientSide() : null) {
            long start = System.nanoTime();
            Searched searched;
            try {
                searched = search(es, local, plan);
            } catch (ImageDecodeException e) {
                throw CommandSupport.usage(spec, "--image [" + image + "] cannot be decoded: " + e.getMessage());
            }
            print(searched.hits(), plan);
            logSearch(plan, searched.hits().size() + " hits of "
                + searched.response().path("hits").path("total").path("value").asText("?") + ", took "
                + searched.response().path("took").asLong(-1) + " ms", start);
            String failed = failedShards(searched.response());
            return failed == null ? CommandSupport.OK : CommandSupport.fail(spec, failed);
        } catch (IllegalArgumentException e) {
            throw CommandSupport.usage(spec, e.getMessage());
        } catch (IOException | ai.onnxruntime.OrtException e) {
            return CommandSupport.fail(spec, e.getMessage());
        }
    }

    /**
     * {@code --queries}: every query of the file, each searched as a single query would be, one
     * connection and (client-side) one set of ONNX sessions for all. The options are checked against
     * the first query of each modality before any search; a query that fails later (its image cannot
     * be read or decoded, the node answers an error, shards fail) prints {@code {"query", "error"}}
     * and the command exits 1 after the others; a cluster that cannot be reached ends the run.
     */
    private Integer searchBatch() {
        if (text != null || image != null) {
            throw CommandSupport.usage(spec, "give either --queries or --text / --image, not both");
        }
        List<QueryFile.Line> lines = readQueries();
        Map<Boolean, SearchRequests.Plan> plans = new HashMap<>();
        for (QueryFile.Line line : lines) {
            if (plans.containsKey(line.isText()) == false) {
                plans.put(line.isText(), plan(queryOf(line)));
            }
        }
        PrintWriter out = spec.commandLine().getOut();
        int failed = 0;
        int printed = 0;
        long start = System.nanoTime();
        try (EsHttp es = EsHttp.connect(connection); ClientSideSearch local = clientSide ? openClientSide() : null) {
            for (QueryFile.Line line : lines) {
                ObjectNode error = EsHttp.JSON.createObjectNode().put("query", line.index());
                try {
                    Searched searched = search(es, local, plans.get(line.isText()).withQuery(line.query()));
                    for (SearchRequests.Hit hit : searched.hits()) {
                        out.println(EsHttp.JSON.createObjectNode().put("query", line.index()).setAll(hit.toJson()));
                    }
                    printed += searched.hits().size();
                    String shards = failedShards(searched.response());
                    if (shards != null) {
                        out.println(error.put("error", shards));
                        failed++;
                    }
                } catch (IOException e) {
                    if (e.getCause() instanceof ConnectException) {
                        throw e; // no node answers: the other queries would fail the same way
                    }
                    out.println(error.put("error", (line.isText() ? "" : "[" + line.image() + "]: ") + e.getMessage()));
                    failed++;
                }
            }
        } catch (ai.onnxruntime.OrtException e) {
            out.flush();
            return CommandSupport.fail(spec, "ONNX Runtime failed: " + e.getMessage());
        } catch (IOException e) {
            out.flush();
            return CommandSupport.fail(spec, e.getMessage());
        }
        out.flush();
        SearchRequests.Plan first = plans.values().iterator().next();
        logSearch(first, String.format(Locale.ROOT, "%d queries (%d failed), %d hits", lines.size(), failed, printed), start);
        return failed == 0 ? CommandSupport.OK : CommandSupport.FAILED;
    }

    private List<QueryFile.Line> readQueries() {
        List<String> raw;
        try {
            raw = "-".equals(queriesFile.toString())
                ? new String(System.in.readAllBytes(), StandardCharsets.UTF_8).lines().toList()
                : Files.readAllLines(queriesFile, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw CommandSupport.usage(spec, "--queries [" + queriesFile + "] cannot be read: " + e);
        }
        List<QueryFile.Line> lines;
        try {
            lines = QueryFile.parse(raw);
        } catch (IllegalArgumentException e) {
            throw CommandSupport.usage(spec, "--queries [" + queriesFile + "] " + e.getMessage());
        }
        for (QueryFile.Line line : lines) {
            if (line.isText() == false && Files.isReadable(line.image()) == false) {
                throw CommandSupport.usage(spec, "--queries [" + queriesFile + "] line " + line.lineNumber() + ": image ["
                    + line.image() + "] cannot be read");
            }
        }
        return lines;
    }

    private SearchRequests.Query queryOf(QueryFile.Line line) {
        try {
            return line.query();
        } catch (IOException e) {
            throw CommandSupport.usage(spec, "--queries [" + queriesFile + "] line " + line.lineNumber() + ": image ["
                + line.image() + "] cannot be read: " + e);
        }
    }

    private ClientSideSearch openClientSide() {
        ModelBundle bundle = CommandSupport.loadBundle(spec, model);
        CommandSupport.requirePrecision(spec, bundle, precision);
        return new ClientSideSearch(bundle, InferenceOptions.cpu(threads).withPrecision(precision));
    }

    /** The hits of one query and the response they came from. */
    private record Searched(List<SearchRequests.Hit> hits, JsonNode response) {
    }

    /** One query, on the nodes (the plugin) or, with {@code local}, reranked here. */
    private Searched search(EsHttp es, ClientSideSearch local, SearchRequests.Plan plan) throws IOException, ai.onnxruntime.OrtException {
        if (local != null) {
            ClientSideSearch.Result result = local.search(es, index, plan,
                unscored -> CommandSupport.log(spec, "kept its first-stage score: %s", unscored));
            List<SearchRequests.Hit> hits = parts ? result.hits() : result.hits().stream()
                .map(h -> new SearchRequests.Hit(h.rank(), h.index(), h.id(), h.score(), null, null, h.source())).toList();
            return new Searched(hits, result.response());
        }
        boolean explain = plan.rescored() && parts;
        String endpoint = "/" + EsHttp.segment(index) + "/_search" + (explain ? "?explain=true" : "");
        JsonNode response = es.send("POST", endpoint, SearchRequests.body(plan));
        return new Searched(SearchRequests.hits(response), response);
    }

    private void logSearch(SearchRequests.Plan plan, String what, long startNanos) {
        CommandSupport.log(spec, "%s (%d ms here): kNN k=%d num_candidates=%d over [%s]%s", what,
            (System.nanoTime() - startNanos) / 1_000_000, plan.knnK(), plan.candidates(), plan.vectorField(),
            plan.rescored() ? String.format(Locale.ROOT, ", ITM rerank of the top %d with [%s] score_mode [%s]%s",
                plan.window(), plan.modelId(), plan.scoreMode() != null ? plan.scoreMode() : "the model's", clientSide ? " here" : "") : "");
    }

    /** {@code N shard(s) failed: ...} where the response reports failed shards, else null. */
    private static String failedShards(JsonNode response) {
        int failed = response.path("_shards").path("failed").asInt(0);
        return failed > 0 ? failed + " shard(s) failed: " + response.path("_shards").path("failures") : null;
    }

    /** The plan of the single query {@code --text} or {@code --image}; every problem is a bad-argument error. */
    SearchRequests.Plan plan() {
        if ((text == null) == (image == null)) {
            throw CommandSupport.usage(spec, text == null ? "give a query: --text TEXT, --image FILE or --queries FILE"
                : "give either --text or --image, not both");
        }
        if (text != null && text.isBlank()) {
            throw CommandSupport.usage(spec, "--text [" + text + "] is empty");
        }
        return plan(text != null ? new SearchRequests.Query(text, null)
            : new SearchRequests.Query(null, Base64.getEncoder().encodeToString(readImage())));
    }

    /** Checks the options for {@code query} and works out fields, window and model id; every problem is a bad-argument error. */
    SearchRequests.Plan plan(SearchRequests.Query query) {
        if (k < 1 || k > SearchRequests.MAX_NUM_CANDIDATES) {
            throw CommandSupport.usage(spec, "--size [" + k + "] must be between 1 and " + SearchRequests.MAX_NUM_CANDIDATES);
        }
        if (window != null && window < 0) {
            throw CommandSupport.usage(spec, "--window [" + window + "] must be 0 (kNN only) or more");
        }
        ScoreMode mode = null; // the model's
        if (scoreMode != null) {
            try {
                mode = ScoreMode.fromLabel(scoreMode);
            } catch (IllegalArgumentException e) {
                throw CommandSupport.usage(spec, "--score-mode [" + scoreMode + "] is not one of " + ScoreMode.labels());
            }
        }
        if (itcWeight != null) {
            if (mode != null && mode != ScoreMode.ITM_PLUS_ITC) {
                throw CommandSupport.usage(spec, "--itc-weight [" + itcWeight + "] needs --score-mode itm_plus_itc (got [" + scoreMode + "])");
            }
            if (Float.isFinite(itcWeight) == false || itcWeight < 0) {
                throw CommandSupport.usage(spec, "--itc-weight [" + itcWeight + "] must be a finite number >= 0");
            }
            mode = ScoreMode.ITM_PLUS_ITC;
        }
        if (model == null && modelId == null) {
            throw CommandSupport.usage(spec, "give the model: --model DIR (or --model-id ID)");
        }
        if (model != null) {
            CommandSupport.modelDirectory(spec, model);
        } else if (clientSide) {
            throw CommandSupport.usage(spec, "--client-side encodes here: it needs --model DIR");
        }
        String id = modelId != null ? modelId : CommandSupport.modelId(model);
        IndexKind documents;
        try {
            documents = kind == null ? query.rescorable() : IndexKind.fromLabel(kind);
        } catch (IllegalArgumentException e) {
            throw CommandSupport.usage(spec, e.getMessage());
        }
        boolean crossModal = documents == query.rescorable();
        int effectiveWindow;
        if (window == null) {
            effectiveWindow = crossModal ? DEFAULT_WINDOW : 0;
        } else if (window > 0 && crossModal == false) {
            throw CommandSupport.usage(spec, String.format(Locale.ROOT,
                "--window [%d]: the ITM rescorer scores %s queries against %s documents, not %s documents; use --window 0 (kNN only)",
                window, query.isText() ? "text" : "image", query.rescorable().label(), documents.label()));
        } else {
            effectiveWindow = window;
        }
        if (numCandidates != null && (numCandidates < Math.max(k, effectiveWindow) || numCandidates > SearchRequests.MAX_NUM_CANDIDATES)) {
            throw CommandSupport.usage(spec, String.format(Locale.ROOT, "--num-candidates [%d] must be between max(k, window) [%d] and %d",
                numCandidates, Math.max(k, effectiveWindow), SearchRequests.MAX_NUM_CANDIDATES));
        }
        return new SearchRequests.Plan(query, id, documents,
            vectorField != null ? vectorField : documents.vectorField(),
            featuresField != null ? featuresField : documents.featuresField(),
            k, effectiveWindow, numCandidates, mode == null ? null : mode.label(), itcWeight);
    }

    private byte[] readImage() {
        try {
            return Files.readAllBytes(image);
        } catch (IOException e) {
            throw CommandSupport.usage(spec, "--image [" + image + "] cannot be read: " + e);
        }
    }

    private void print(List<SearchRequests.Hit> hits, SearchRequests.Plan plan) {
        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            for (SearchRequests.Hit hit : hits) {
                out.println(hit.toJson());
            }
        } else {
            out.print(table(hits, plan.documents()));
        }
        out.flush();
    }

    /**
     * The hits as an aligned table: rank, _id, score, ITM, ITC, then what tells a person what matched:
     * the caption for caption documents; for image documents the path and, where the document
     * carries captions (a Karpathy file's), the first of them.
     */
    static String table(List<SearchRequests.Hit> hits, IndexKind documents) {
        boolean manyIndices = hits.stream().map(SearchRequests.Hit::index).distinct().count() > 1;
        int idWidth = Math.max(3, hits.stream().mapToInt(h -> h.id().length()).max().orElse(3));
        int indexWidth = Math.max(6, hits.stream().mapToInt(h -> h.index().length()).max().orElse(6));
        boolean captions = documents == IndexKind.CAPTION
            && hits.stream().anyMatch(h -> h.source() != null && h.source().path(IndexKind.CAPTION.sourceField()).isTextual());
        boolean paths = documents == IndexKind.IMAGE
            && hits.stream().anyMatch(h -> h.source() != null && h.source().path(IndexDocument.PATH).isTextual());
        boolean imageCaptions = paths && hits.stream().anyMatch(h -> !sourceCaption(h).isEmpty());
        int pathWidth = Math.max(4, hits.stream().mapToInt(h -> sourceText(h, IndexDocument.PATH).length()).max().orElse(0));
        StringBuilder table = new StringBuilder();
        table.append(String.format(Locale.ROOT, "%4s  ", "rank"));
        if (manyIndices) {
            table.append(String.format(Locale.ROOT, "%-" + indexWidth + "s  ", "_index"));
        }
        table.append(String.format(Locale.ROOT, "%-" + idWidth + "s  %10s  %10s  %10s", "_id", "score", "itm", "itc"));
        if (captions) {
            table.append("  caption");
        } else if (paths) {
            table.append(imageCaptions ? String.format(Locale.ROOT, "  %-" + pathWidth + "s  caption", "path") : "  path");
        }
        table.append('\n');
        for (SearchRequests.Hit hit : hits) {
            table.append(String.format(Locale.ROOT, "%4d  ", hit.rank()));
            if (manyIndices) {
                table.append(String.format(Locale.ROOT, "%-" + indexWidth + "s  ", hit.index()));
            }
            table.append(String.format(Locale.ROOT, "%-" + idWidth + "s  %10.4f  %10s  %10s", hit.id(), hit.score(),
                number(hit.itm()), number(hit.itc())));
            if (captions) {
                table.append("  ").append(sourceText(hit, IndexKind.CAPTION.sourceField()));
            } else if (paths) {
                String path = sourceText(hit, IndexDocument.PATH);
                String caption = sourceCaption(hit);
                table.append(caption.isEmpty() ? "  " + path : String.format(Locale.ROOT, "  %-" + pathWidth + "s  %s", path, caption));
            }
            table.append('\n');
        }
        return table.toString();
    }

    private static String sourceText(SearchRequests.Hit hit, String field) {
        return hit.source() == null ? "" : hit.source().path(field).asText("");
    }

    private static String sourceCaption(SearchRequests.Hit hit) {
        return hit.source() == null ? "" : hit.source().path(IndexDocument.CAPTIONS).path(0).asText("");
    }

    private static String number(Float value) {
        return value == null ? "-" : String.format(Locale.ROOT, "%.4f", value);
    }
}
