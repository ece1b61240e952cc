package io.fuserank.tools;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.fuserank.reranker.ScoreFormula;
import io.fuserank.reranker.ScoreMode;
import io.fuserank.reranker.ScorePart;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;

/** The search bodies against example-queries/search/, and reading ITM and ITC from explanations. */
class SearchRequestsTest {

    static final Path EXAMPLES = Path.of("..", "example-queries", "search");
    private static final ObjectMapper JSON = new ObjectMapper();

    static JsonNode cannedResponse() throws IOException {
        try (InputStream in = SearchRequestsTest.class.getResourceAsStream("/search-response-explain.json")) {
            return JSON.readTree(in);
        }
    }

    @Test
    void textToImageIsTheDocumentedQuery() throws IOException {
        SearchRequests.Plan plan = new SearchRequests.Plan(new SearchRequests.Query("{{TEXT}}", null), "fuserank-small",
            IndexKind.IMAGE, "image_vector", "image_features", 5, 16, null, "itm_plus_itc", null);
        assertEquals(JSON.readTree(EXAMPLES.resolve("text-to-image.json").toFile()), SearchRequests.body(plan));
    }

    @Test
    void imageToTextIsTheDocumentedQueryWithItsScoreMode() throws IOException {
        SearchRequests.Plan plan = new SearchRequests.Plan(new SearchRequests.Query(null, "{{IMAGE_BASE64}}"), "fuserank-small",
            IndexKind.CAPTION, "text_vector", "text_features", 5, 16, null, "itm_plus_itc", null);
        ObjectNode expected = (ObjectNode) JSON.readTree(EXAMPLES.resolve("image-to-text.json").toFile());
        ((ObjectNode) expected.path("rescore").path("fuserank_itm")).put("score_mode", "itm_plus_itc");
        assertEquals(expected, SearchRequests.body(plan));
    }

    @Test
    void imageToImageIsTheDocumentedKnnOnlyQuery() throws IOException {
        SearchRequests.Plan plan = new SearchRequests.Plan(new SearchRequests.Query(null, "{{IMAGE_BASE64}}"), "fuserank-small",
            IndexKind.IMAGE, "image_vector", "image_features", 5, 0, 64, "itm_plus_itc", null);
        ObjectNode expected = (ObjectNode) JSON.readTree(EXAMPLES.resolve("image-to-image.json").toFile());
        ((ObjectNode) expected.path("knn")).put("k", 5);
        assertEquals(expected, SearchRequests.body(plan));
    }

    @Test
    void knnCoversTheWindowAndOverriddenFieldsGoToTheRescorer() {
        SearchRequests.Plan plan = new SearchRequests.Plan(new SearchRequests.Query("a red circle", null), "m",
            IndexKind.IMAGE, "vec", "feat", 10, 200, null, "blend", null);
        JsonNode body = SearchRequests.body(plan);
        assertEquals(10, body.path("size").asInt());
        assertEquals(200, body.path("knn").path("k").asInt());
        assertEquals(800, body.path("knn").path("num_candidates").asInt());
        assertEquals("vec", body.path("knn").path("field").asText());
        JsonNode itm = body.path("rescore").path("fuserank_itm");
        assertEquals(JSON.createObjectNode().put("model_id", "m").put("text", "a red circle").put("score_mode", "blend")
            .put("features_field", "feat").put("vector_field", "vec"), itm);
        assertEquals(10_000, new SearchRequests.Plan(plan.query(), "m", IndexKind.IMAGE, "v", "f", 5000, 0, null, "itm", null).candidates());
        assertFalse(SearchRequests.body(new SearchRequests.Plan(plan.query(), "m", IndexKind.IMAGE, "v", "f", 5, 0, null, "itm", null)).has("rescore"));
        JsonNode weighted = SearchRequests.body(new SearchRequests.Plan(plan.query(), "m", IndexKind.IMAGE, "vec", "feat", 10, 16, null,
            "itm_plus_itc", 64f));
        assertEquals(64.0, weighted.path("rescore").path("fuserank_itm").path("itc_weight").asDouble(), 0.0);
    }

    @Test
    void itmAndItcComeFromTheRescorersExplanation() throws IOException {
        List<SearchRequests.Hit> hits = SearchRequests.hits(cannedResponse());
        assertEquals(3, hits.size());
        assertEquals(new SearchRequests.Hit(1, "images", "03", 9.25f, 7.5f, 0.75f, JSON.createObjectNode()), hits.get(0));
        assertEquals(new SearchRequests.Hit(2, "images", "01", 0.25f, -3.125f, 0.125f, JSON.createObjectNode()), hits.get(1));
        assertEquals(new SearchRequests.Hit(3, "images", "no-features", 0.5f, null, null, JSON.createObjectNode()), hits.get(2));
    }

    /** A response a real node with the plugin gave (the text-to-image example, caption 3 of the shipped bundle's reference). */
    @Test
    void aRealNodesResponse() throws IOException {
        JsonNode response;
        try (InputStream in = SearchRequestsTest.class.getResourceAsStream("/search-response-node.json")) {
            response = JSON.readTree(in);
        }
        List<SearchRequests.Hit> hits = SearchRequests.hits(response);
        assertEquals(List.of("03", "00", "01", "02"), hits.stream().map(SearchRequests.Hit::id).toList());
        assertEquals(0.5681044, hits.get(0).itm(), 1e-7);
        assertEquals(0.9982436, hits.get(0).itc(), 1e-7);
        assertEquals(-3.9518127, hits.get(2).itm(), 1e-7);
        for (SearchRequests.Hit hit : hits) {
            // itm_plus_itc, itc_weight 1 (the model's when this response was recorded): the node's score is the formula's, to the last bit.
            assertEquals(new ScoreFormula(ScoreMode.ITM_PLUS_ITC, 1, 1, 1f).score(0f, hit.itm(), hit.itc()), hit.score(), 0f, hit.toString());
        }
    }

    @Test
    void blendAndItmModesHideTheirPartsDeeperOrMarkThem() throws IOException {
        JsonNode blend = JSON.readTree("""
            {"value": 3.0, "description": "fuserank_itm score_mode [blend]: raw score + 1 ...", "details": [
              {"value": 2.0, "description": "raw score: query_weight [1.0] * first-stage score + rescore_query_weight [2.0] * ITM logit", "details": [
                {"value": 0.5, "description": "query_weight [1.0] * first-stage score", "details": [{"value": 0.5, "description": "within top k documents", "details": []}]},
                {"value": 1.5, "description": "rescore_query_weight [2.0] * ITM logit", "details": [
                  {"value": 0.75, "description": "itm: ITM match logit of the fusion encoder of model [m]", "details": []}]},
                {"value": 0.25, "description": "itc: ITC dot product of the query embedding and the document's [image_vector] (not added by score_mode [blend])", "details": []}
              ]}]}""");
        assertEquals(0.75f, SearchRequests.part(blend, ScorePart.ITM));
        assertEquals(0.25f, SearchRequests.part(blend, ScorePart.ITC));
        assertNull(SearchRequests.part(JSON.readTree("{\"value\": 1, \"description\": \"within top k documents\"}"), ScorePart.ITM));
        assertNull(SearchRequests.part(JSON.readTree("{\"value\": 1, \"description\": \"itm_plus_itc\"}"), ScorePart.ITM));
        assertNull(SearchRequests.part(null, ScorePart.ITC));
    }

    @Test
    void tableAndJsonLines() throws IOException {
        List<SearchRequests.Hit> hits = SearchRequests.hits(cannedResponse());
        assertEquals("""
            rank  _id               score         itm         itc
               1  03               9.2500      7.5000      0.7500
               2  01               0.2500     -3.1250      0.1250
               3  no-features      0.5000           -           -
            """, SearchCommand.table(hits, IndexKind.IMAGE));
        assertEquals("{\"rank\":1,\"_index\":\"images\",\"_id\":\"03\",\"score\":9.25,\"itm\":7.5,\"itc\":0.75,\"_source\":{}}",
            hits.get(0).toJson().toString());
        assertEquals("null", hits.get(2).toJson().path("itm").toString());

        List<SearchRequests.Hit> captions = List.of(new SearchRequests.Hit(1, "captions", "00", 2.0f, 1.0f, 0.5f,
            JSON.createObjectNode().put("caption", "a large blue cross")));
        assertEquals("""
            rank  _id       score         itm         itc  caption
               1  00       2.0000      1.0000      0.5000  a large blue cross
            """, SearchCommand.table(captions, IndexKind.CAPTION));

        // Image documents: the path, and the first caption where the document carries any.
        List<SearchRequests.Hit> images = List.of(
            new SearchRequests.Hit(1, "images", "a1", 3.0f, 2.0f, 0.5f,
                JSON.readTree("{\"path\": \"test/00001.png\", \"captions\": [\"a red circle\", \"a circle\"]}")),
            new SearchRequests.Hit(2, "images", "b2", 1.0f, 0.5f, 0.25f, JSON.createObjectNode().put("path", "x.png")));
        assertEquals("""
            rank  _id       score         itm         itc  path            caption
               1  a1       3.0000      2.0000      0.5000  test/00001.png  a red circle
               2  b2       1.0000      0.5000      0.2500  x.png
            """, SearchCommand.table(images, IndexKind.IMAGE));
        assertEquals("""
            rank  _id       score         itm         itc  path
               2  b2       1.0000      0.5000      0.2500  x.png
            """, SearchCommand.table(images.subList(1, 2), IndexKind.IMAGE));
    }
}
