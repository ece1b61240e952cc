package io.fuserank.benchmarks.recall;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

class SearchBodiesTest {

    /** The timed body is the documented example's shape, with the harness's k and the mode's score_mode. */
    @Test
    void textToImageFollowsTheExampleQuery() throws IOException {
        JsonNode example = new com.fasterxml.jackson.databind.ObjectMapper().readTree(Path.of("../example-queries/search/text-to-image.json").toFile());
        JsonNode body = SearchBodies.textToImage("fuserank-small", "a red circle", new Mode.Setting(Mode.KNN_ITM, 16), null);
        assertEquals(example.path("knn").path("field"), body.path("knn").path("field"));
        assertEquals(example.path("knn").path("k"), body.path("knn").path("k"));
        assertEquals(example.path("knn").path("num_candidates"), body.path("knn").path("num_candidates"));
        assertEquals(example.path("knn").path("query_vector_builder").fieldNames().next(),
            body.path("knn").path("query_vector_builder").fieldNames().next());
        assertEquals(example.path("rescore").path("window_size"), body.path("rescore").path("window_size"));
        assertEquals("itm", body.path("rescore").path("fuserank_itm").path("score_mode").asText());
        assertEquals("a red circle", body.path("rescore").path("fuserank_itm").path("text").asText());
    }

    @Test
    void knnOnlyHasNoRescoreAndReturnsTenHits() {
        JsonNode body = SearchBodies.textToImage("m", "x", new Mode.Setting(Mode.KNN_ITC, 0), null);
        assertFalse(body.has("rescore"));
        assertEquals(10, body.path("knn").path("k").asInt());
        assertEquals(10, body.path("size").asInt());
        JsonNode wide = SearchBodies.imageToText("m", "AAAA", new Mode.Setting(Mode.KNN_ITM_ITC, 64), null);
        assertEquals(64, wide.path("knn").path("k").asInt());
        assertEquals("text_vector", wide.path("knn").path("field").asText());
        assertEquals("itm_plus_itc", wide.path("rescore").path("fuserank_itm").path("score_mode").asText());
        assertFalse(wide.path("rescore").path("fuserank_itm").has("itc_weight"));
        JsonNode weighted = SearchBodies.imageToText("m", "AAAA", new Mode.Setting(Mode.KNN_ITM_ITC, 16), 64f);
        assertEquals(64.0, weighted.path("rescore").path("fuserank_itm").path("itc_weight").asDouble(), 0.0);
        assertFalse(SearchBodies.imageToText("m", "AAAA", new Mode.Setting(Mode.KNN_ITM, 16), 64f).path("rescore").path("fuserank_itm")
            .has("itc_weight"));
    }

    @Test
    void settingsRefuseAWindowForKnnAndNoWindowForRerank() {
        assertThrows(IllegalArgumentException.class, () -> new Mode.Setting(Mode.KNN_ITC, 16));
        assertThrows(IllegalArgumentException.class, () -> new Mode.Setting(Mode.KNN_ITM, 0));
    }

    @Test
    void clientRerankFetchesTheFeatureDocValues() {
        JsonNode body = SearchBodies.knnWithFeatures(new float[] {0.6f, 0.8f}, 32);
        assertEquals(32, body.path("size").asInt());
        assertEquals("image_features", body.path("docvalue_fields").path(0).asText());
        assertEquals(2, body.path("knn").path("query_vector").size());
    }
}
