package io.fuserank.tools;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.fuserank.encoder.Encoding;
import io.fuserank.encoder.FeatureCodec;
import io.fuserank.encoder.ImageEncoder;
import io.fuserank.encoder.ImagePreprocessor;
import io.fuserank.encoder.InferenceOptions;
import io.fuserank.encoder.ModelBundle;
import io.fuserank.encoder.TextEncoder;
import io.fuserank.encoder.TextTokenizer;
import io.fuserank.reranker.FusionScorer;
import io.fuserank.reranker.ScoreFormula;
import io.fuserank.reranker.ScoreMode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SearchCommandTest {

    static final String MODEL = "../models/fuserank-small";
    static final Path IMAGE = Path.of(MODEL, "reference", "images", "00.png");
    private static final ObjectMapper JSON = new ObjectMapper();

    private static void assertUsage(CliRun run, String expected) {
        assertEquals(2, run.exit(), run.toString());
        assertTrue(run.err().contains(expected), "expected [" + expected + "] in\n" + run);
        assertEquals("", run.out(), run.toString());
    }

    @Test
    void bothTextAndImageIsABadArgument() {
        assertUsage(CliRun.of("search", "images", "--text", "a cat", "--image", IMAGE.toString(), "--model", MODEL),
            "give either --text or --image, not both");
        assertUsage(CliRun.of("search", "images", "--model", MODEL), "give a query: --text TEXT, --image FILE or --queries FILE");
    }

    @Test
    void badValuesAreBadArgumentsNamingThem() {
        assertUsage(CliRun.of("search", "images", "--text", "a cat", "--model", MODEL, "--score-mode", "max"),
            "--score-mode [max] is not one of [itm, itm_plus_itc, blend]");
        assertUsage(CliRun.of("search", "images", "--text", "a cat", "--model", MODEL, "--score-mode", "itm", "--itc-weight", "4"),
            "--itc-weight [4.0] needs --score-mode itm_plus_itc (got [itm])");
        assertUsage(CliRun.of("search", "images", "--text", "a cat", "--model", MODEL, "--itc-weight", "-1"),
            "--itc-weight [-1.0] must be a finite number >= 0");
        assertUsage(CliRun.of("search", "images", "--text", "a cat", "--model", MODEL, "--kind", "video"),
            "--kind [video] is not one of [image, caption]");
        assertUsage(CliRun.of("search", "images", "--text", "a cat", "--model", MODEL, "--window", "-1"),
            "--window [-1] must be 0 (kNN only) or more");
        assertUsage(CliRun.of("search", "images", "--text", "a cat", "--model", MODEL, "--size", "0"),
            "--size [0] must be between 1 and 10000");
        assertUsage(CliRun.of("search", "images", "--text", "a cat", "--model", "no/such/model"),
            "--model [no/such/model] is not a directory");
        assertUsage(CliRun.of("search", "captions", "--image", "no/such.png", "--model", MODEL),
            "--image [no/such.png] cannot be read");
        assertUsage(CliRun.of("search", "images", "--text", "a cat", "--model", MODEL, "--num-candidates", "8"),
            "--num-candidates [8] must be between max(k, window) [32] and 10000");
    }

    @Test
    void theRescorerOnlyRunsAcrossModalities() {
        assertUsage(CliRun.of("search", "images", "--image", IMAGE.toString(), "--kind", "image", "--window", "8", "--model", MODEL),
            "--window [8]: the ITM rescorer scores image queries against caption documents, not image documents; use --window 0");
    }

    @Test
    void textQueryPrintsTheTableWithTheExplainedParts() throws IOException {
        String canned = SearchRequestsTest.cannedResponse().toString();
        try (FakeNode node = new FakeNode(r -> FakeNode.Answer.json(canned))) {
            CliRun run = CliRun.of("search", "images", "--text", "a large blue cross", "--model", MODEL, "--url", node.url(), "--k", "3",
                "--parts");
            assertEquals(0, run.exit(), run.toString());
            assertEquals(List.of("POST /images/_search?explain=true"), node.lines());
            JsonNode body = JSON.readTree(node.requests.get(0).body());
            assertEquals("image_vector", body.at("/knn/field").asText());
            assertEquals(32, body.at("/knn/k").asInt());
            assertEquals(3, body.at("/size").asInt());
            assertEquals("a large blue cross", body.at("/knn/query_vector_builder/fuserank_text/text").asText());
            assertEquals("fuserank-small", body.at("/knn/query_vector_builder/fuserank_text/model_id").asText());
            assertEquals(32, body.at("/rescore/window_size").asInt());
            assertTrue(body.at("/rescore/fuserank_itm/score_mode").isMissingNode(), "left to the model: " + body);
            assertEquals(SearchCommand.table(SearchRequests.hits(SearchRequestsTest.cannedResponse()), IndexKind.IMAGE), run.out());
            assertTrue(run.err().contains("3 hits of 3, took 41 ms"), run.toString());
        }
    }

    @Test
    void jsonLinesAndAModelIdOverride() throws IOException {
        String canned = SearchRequestsTest.cannedResponse().toString();
        try (FakeNode node = new FakeNode(r -> FakeNode.Answer.json(canned))) {
            CliRun run = CliRun.of("search", "images", "--text", "a large blue cross", "--model", MODEL, "--model-id", "other",
                "--url", node.url(), "--json", "--score-mode", "itm", "--parts");
            assertEquals(0, run.exit(), run.toString());
            String[] lines = run.out().split("\n");
            assertEquals(3, lines.length, run.out());
            assertEquals(JSON.readTree("{\"rank\":1,\"_index\":\"images\",\"_id\":\"03\",\"score\":9.25,\"itm\":7.5,\"itc\":0.75,\"_source\":{}}"),
                JSON.readTree(lines[0]));
            JsonNode body = JSON.readTree(node.requests.get(0).body());
            assertEquals("other", body.at("/rescore/fuserank_itm/model_id").asText());
            assertEquals("itm", body.at("/rescore/fuserank_itm/score_mode").asText());
        }
    }

    @Test
    void imageQuerySearchesCaptionsAndWindowZeroIsKnnOnly() throws IOException {
        try (FakeNode node = new FakeNode(r -> FakeNode.Answer.json("{\"took\":1,\"hits\":{\"total\":{\"value\":1},\"hits\":["
            + "{\"_index\":\"captions\",\"_id\":\"00\",\"_score\":0.9,\"_source\":{\"caption\":\"a large orange triangle\"}}]}}"))) {
            CliRun run = CliRun.of("search", "captions", "--image", IMAGE.toString(), "--model", MODEL, "--url", node.url(), "--window", "0");
            assertEquals(0, run.exit(), run.toString());
            assertEquals(List.of("POST /captions/_search"), node.lines());
            JsonNode body = JSON.readTree(node.requests.get(0).body());
            assertEquals("text_vector", body.at("/knn/field").asText());
            assertEquals(Base64.getEncoder().encodeToString(Files.readAllBytes(IMAGE)),
                body.at("/knn/query_vector_builder/fuserank_image/image").asText());
            assertFalse(body.has("rescore"));
            assertFalse(body.has("_source"), "caption documents keep their caption");
            assertTrue(run.out().contains("   1  00       0.9000           -           -  a large orange triangle"), run.out());
        }
    }

    @Test
    void imageQueryRescoresCaptionsWithOverriddenFields() throws IOException {
        try (FakeNode node = new FakeNode(r -> FakeNode.Answer.json("{\"hits\":{\"hits\":[]}}"))) {
            CliRun run = CliRun.of("search", "captions", "--image", IMAGE.toString(), "--model", MODEL, "--url", node.url(),
                "--vector-field", "v", "--features-field", "f", "--window", "16");
            assertEquals(0, run.exit(), run.toString());
            JsonNode body = JSON.readTree(node.requests.get(0).body());
            assertEquals("v", body.at("/knn/field").asText());
            assertEquals("f", body.at("/rescore/fuserank_itm/features_field").asText());
            assertEquals("v", body.at("/rescore/fuserank_itm/vector_field").asText());
            assertTrue(body.at("/rescore/fuserank_itm/image").isTextual());
        }
    }

    @Test
    void aSearchErrorIsAFailedJobWithTheRootCause() throws IOException {
        String error = "{\"error\":{\"root_cause\":[{\"type\":\"illegal_argument_exception\",\"reason\":\"[fuserank_itm] window_size [300] is above "
            + "[fuserank.rescore.max_window] [256]\"}],\"type\":\"search_phase_execution_exception\",\"reason\":\"all shards failed\"},\"status\":400}";
        try (FakeNode node = new FakeNode(r -> new FakeNode.Answer(400, error))) {
            CliRun run = CliRun.of("search", "images", "--text", "a cat", "--model", MODEL, "--url", node.url(), "--window", "300");
            assertEquals(1, run.exit(), run.toString());
            assertTrue(run.err().contains("answered 400: search_phase_execution_exception: all shards failed (root cause "
                + "illegal_argument_exception: [fuserank_itm] window_size [300] is above [fuserank.rescore.max_window] [256])"), run.toString());
            assertEquals("", run.out());
        }
    }

    @Test
    void aServerErrorIsAFailedJobWithItsReason() throws IOException {
        String error = "{\"error\":{\"type\":\"es_rejected_execution_exception\",\"reason\":\"fuserank inference queue is full\"},\"status\":503}";
        for (int status : new int[] {500, 503}) {
            try (FakeNode node = new FakeNode(r -> new FakeNode.Answer(status, error))) {
                CliRun run = CliRun.of("search", "images", "--text", "a cat", "--model", MODEL, "--url", node.url());
                assertEquals(1, run.exit(), run.toString());
                assertTrue(run.err().contains("answered " + status + ": es_rejected_execution_exception: fuserank inference queue is full"),
                    run.toString());
            }
        }
    }

    @Test
    void withoutPartsTheSearchAsksForNoExplanation() throws IOException {
        String canned = SearchRequestsTest.cannedResponse().toString();
        try (FakeNode node = new FakeNode(r -> FakeNode.Answer.json(canned))) {
            CliRun run = CliRun.of("search", "images", "--text", "a large blue cross", "--model", MODEL, "--url", node.url(), "--size", "3");
            assertEquals(0, run.exit(), run.toString());
            assertEquals(List.of("POST /images/_search"), node.lines());
            assertEquals(3, JSON.readTree(node.requests.get(0).body()).at("/size").asInt());
        }
    }

    /**
     * The client-side rerank, on a kNN response of three hits: image 00's stored features and vector
     * (scored), a hit without features (keeps its first-stage score) and, below a window of 2, a hit
     * whose first-stage score is above the window's lowest (capped just under it).
     */
    @Test
    void clientSideRerankScoresTheWindowWithTheOneFormula() throws Exception {
        ModelBundle bundle = ModelBundle.load(Path.of(MODEL));
        Encoding query;
        Encoding image;
        try (TextEncoder text = new TextEncoder(bundle, TextTokenizer.forBundle(bundle), InferenceOptions.cpu(1));
             ImageEncoder images = new ImageEncoder(bundle, ImagePreprocessor.fromManifest(bundle.manifest().get("image"),
                 ImagePreprocessor.Limits.DEFAULT), InferenceOptions.cpu(1))) {
            query = text.encode("a large blue cross");
            image = images.encode(List.of(Files.readAllBytes(IMAGE))).get(0);
        }
        float itm;
        try (FusionScorer scorer = new FusionScorer(bundle, InferenceOptions.cpu(1), FusionScorer.DEFAULT_MAX_BATCH)) {
            itm = scorer.scoreImages(query.tokenFeatures(), List.of(FeatureCodec.INT8.encode(image.tokenFeatures())))[0];
        }
        ObjectNode response = JSON.createObjectNode();
        response.put("took", 1).putObject("hits").putObject("total").put("value", 3);
        ArrayNode hits = response.with("hits").putArray("hits");
        ObjectNode scored = hits.addObject().put("_index", "images").put("_id", "00").put("_score", 0.9f);
        scored.putObject("fields").putArray("image_features").add(Base64.getEncoder().encodeToString(FeatureCodec.INT8.encode(image.tokenFeatures())));
        ArrayNode vector = scored.with("fields").putArray("image_vector");
        for (float v : image.embedding()) {
            vector.add(v);
        }
        hits.addObject().put("_index", "images").put("_id", "bare").put("_score", 0.8f);
        hits.addObject().put("_index", "images").put("_id", "below").put("_score", 0.7f);
        try (FakeNode node = new FakeNode(r -> FakeNode.Answer.json(response.toString()))) {
            CliRun run = CliRun.of("search", "images", "--text", "a large blue cross", "--model", MODEL, "--url", node.url(),
                "--client-side", "--window", "2", "--size", "3", "--json", "--parts", "--threads", "1");
            assertEquals(0, run.exit(), run.toString());
            JsonNode body = JSON.readTree(node.requests.get(0).body());
            assertEquals("image_features", body.at("/docvalue_fields/0").asText());
            assertEquals("image_vector", body.at("/fields/0").asText());
            ScoreFormula formula = new ScoreFormula(ScoreMode.ITM_PLUS_ITC, 1, 1, bundle.itcWeight());
            float itc = ScoreFormula.itc(query.embedding(), image.embedding());
            float score = formula.score(0.9f, itm, itc);
            String[] lines = run.out().split("\n");
            assertEquals(3, lines.length, run.out());
            JsonNode first = JSON.readTree(lines[0]);
            JsonNode second = JSON.readTree(lines[1]);
            JsonNode third = JSON.readTree(lines[2]);
            boolean scoredFirst = score > 0.8f;
            JsonNode top = scoredFirst ? first : second;
            assertEquals("00", top.path("_id").asText());
            assertEquals(score, top.path("score").floatValue(), 0f);
            assertEquals(itm, top.path("itm").floatValue(), 0f);
            assertEquals(itc, top.path("itc").floatValue(), 0f);
            JsonNode bare = scoredFirst ? second : first;
            assertEquals(0.8f, bare.path("score").floatValue(), 0f);
            assertTrue(bare.path("itm").isNull());
            assertEquals("below", third.path("_id").asText());
            assertEquals(Math.min(0.7f, Math.nextDown(Math.min(score, 0.8f))), third.path("score").floatValue(), 0f);
            assertTrue(run.err().contains("kept its first-stage score: bare: no token features in [image_features]"), run.toString());

            // --queries: the same query twice through one set of ONNX sessions prints the single run's lines, numbered
            Path queries = dir.resolve("queries.txt");
            Files.writeString(queries, "a large blue cross\n{\"text\": \"a large blue cross\"}\n");
            CliRun batch = CliRun.of("search", "images", "--queries", queries.toString(), "--model", MODEL, "--url", node.url(),
                "--client-side", "--window", "2", "--size", "3", "--parts", "--threads", "1");
            assertEquals(0, batch.exit(), batch.toString());
            String[] batchLines = batch.out().split("\n");
            assertEquals(6, batchLines.length, batch.out());
            for (int i = 0; i < batchLines.length; i++) {
                ObjectNode expected = JSON.createObjectNode().put("query", i / 3);
                expected.setAll((ObjectNode) JSON.readTree(lines[i % 3]));
                assertEquals(expected, JSON.readTree(batchLines[i]));
            }
        }
    }

    @TempDir
    Path dir;

    @Test
    void queriesFilePrintsEachHitWithItsQueryNumber() throws IOException {
        String canned = SearchRequestsTest.cannedResponse().toString();
        Path queries = dir.resolve("queries.txt");
        Files.writeString(queries, "a large blue cross\n\n{\"text\": \"a red circle\"}\n");
        try (FakeNode node = new FakeNode(r -> FakeNode.Answer.json(canned))) {
            CliRun run = CliRun.of("search", "images", "--queries", queries.toString(), "--model", MODEL, "--url", node.url(),
                "--size", "3", "--parts");
            assertEquals(0, run.exit(), run.toString());
            assertEquals(List.of("POST /images/_search?explain=true", "POST /images/_search?explain=true"), node.lines());
            assertEquals("a large blue cross", JSON.readTree(node.requests.get(0).body()).at("/knn/query_vector_builder/fuserank_text/text").asText());
            assertEquals("a red circle", JSON.readTree(node.requests.get(1).body()).at("/rescore/fuserank_itm/text").asText());
            List<SearchRequests.Hit> hits = SearchRequests.hits(SearchRequestsTest.cannedResponse());
            String[] lines = run.out().split("\n");
            assertEquals(6, lines.length, run.out());
            for (int i = 0; i < lines.length; i++) {
                ObjectNode expected = JSON.createObjectNode().put("query", i / 3);
                expected.setAll(hits.get(i % 3).toJson());
                assertEquals(JSON.readTree(expected.toString()), JSON.readTree(lines[i]));
            }
            assertTrue(run.err().contains("2 queries (0 failed), 6 hits"), run.toString());
        }
    }

    @Test
    void aQueryThatFailsPrintsItsErrorAndTheOthersStillRun() throws IOException {
        String canned = SearchRequestsTest.cannedResponse().toString();
        String error = "{\"error\":{\"type\":\"illegal_argument_exception\",\"reason\":\"no such model\"},\"status\":400}";
        Path queries = dir.resolve("queries.txt");
        Files.writeString(queries, "a large blue cross\na broken query\na red circle\n");
        try (FakeNode node = new FakeNode(r -> r.body().contains("a broken query") ? new FakeNode.Answer(400, error) : FakeNode.Answer.json(canned))) {
            CliRun run = CliRun.of("search", "images", "--queries", queries.toString(), "--model", MODEL, "--url", node.url(), "--size", "1");
            assertEquals(1, run.exit(), run.toString());
            // the canned answer holds three hits: query 0's, query 1's error, query 2's
            String[] lines = run.out().split("\n");
            assertEquals(7, lines.length, run.out());
            int[] query = {0, 0, 0, 1, 2, 2, 2};
            for (int i = 0; i < lines.length; i++) {
                assertEquals(query[i], JSON.readTree(lines[i]).path("query").asInt(), lines[i]);
            }
            JsonNode failed = JSON.readTree(lines[3]);
            assertEquals(2, failed.size(), "only query and error: " + lines[3]);
            assertTrue(failed.path("error").asText().contains("illegal_argument_exception: no such model"), lines[3]);
            assertEquals("03", JSON.readTree(lines[4]).path("_id").asText());
            assertTrue(run.err().contains("3 queries (1 failed), 6 hits"), run.toString());
        }
    }

    @Test
    void aClusterThatCannotBeReachedEndsTheRun() throws IOException {
        Path queries = dir.resolve("queries.txt");
        Files.writeString(queries, "a large blue cross\na red circle\n");
        String url;
        try (FakeNode node = new FakeNode(r -> FakeNode.Answer.json("{}"))) {
            url = node.url();
        }
        CliRun run = CliRun.of("search", "images", "--queries", queries.toString(), "--model", MODEL, "--url", url);
        assertEquals(1, run.exit(), run.toString());
        assertEquals("", run.out());
        assertTrue(run.err().contains("error: cannot connect to Elasticsearch at"), run.toString());
    }

    @Test
    void badQueriesFilesAreBadArgumentsNamingTheLine() throws IOException {
        Path queries = dir.resolve("queries.txt");
        Files.writeString(queries, "a cat\n{\"txt\": \"a dog\"}\n");
        assertUsage(CliRun.of("search", "images", "--queries", queries.toString(), "--model", MODEL),
            "--queries [" + queries + "] line 2 [{\"txt\": \"a dog\"}] is not a query");
        assertUsage(CliRun.of("search", "images", "--queries", queries.toString(), "--text", "a cat", "--model", MODEL),
            "give either --queries or --text / --image, not both");
        assertUsage(CliRun.of("search", "images", "--queries", "no/such.txt", "--model", MODEL),
            "--queries [no/such.txt] cannot be read");
        Files.writeString(queries, "a cat\n\n{\"image\": \"no/such.png\"}\n");
        assertUsage(CliRun.of("search", "captions", "--queries", queries.toString(), "--model", MODEL),
            "--queries [" + queries + "] line 3: image [no/such.png] cannot be read");
        Files.writeString(queries, "a cat\n");
        assertUsage(CliRun.of("search", "images", "--queries", queries.toString(), "--model", MODEL, "--size", "0"),
            "--size [0] must be between 1 and 10000");
    }
}
