package io.fuserank.tools;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CreateIndexCommandTest {

    static final String MODEL = "../models/fuserank-small";
    private static final ObjectMapper JSON = new ObjectMapper();

    private static void assertUsage(CliRun run, String expected) {
        assertEquals(2, run.exit(), run.toString());
        assertTrue(run.err().contains(expected), "expected [" + expected + "] in\n" + run);
        assertEquals("", run.out(), run.toString());
    }

    @Test
    void unknownIndexOptionIsABadArgument() {
        assertUsage(CliRun.of("create-index", "images", "--model", MODEL, "--index-options", "ivf_pq", "--dry-run"),
            "--index-options [ivf_pq] is not one of [hnsw, int8_hnsw");
    }

    @Test
    void badCodecIsABadArgument() {
        assertUsage(CliRun.of("create-index", "images", "--model", MODEL, "--codec", "int4", "--pipeline", "p", "--dry-run"),
            "--codec [int4] is not one of [fp32, fp16, int8]");
    }

    @Test
    void missingModelDirectoryIsABadArgument() {
        assertUsage(CliRun.of("create-index", "images", "--model", "no/such/model", "--dry-run"),
            "--model [no/such/model] is not a directory");
    }

    @Test
    void unknownKindIsABadArgument() {
        assertUsage(CliRun.of("create-index", "images", "--model", MODEL, "--kind", "video", "--dry-run"),
            "--kind [video] is not one of [image, caption]");
    }

    @Test
    void graphOptionsOnAFlatIndexAreABadArgument() {
        assertUsage(CliRun.of("create-index", "images", "--model", MODEL, "--index-options", "flat", "--m", "8", "--dry-run"),
            "--m and --ef-construction apply to the hnsw index options only, not to [flat]");
    }

    @Test
    void int4NeedsEvenDimsButTheShippedModelHasThem() throws IOException {
        CliRun run = CliRun.of("create-index", "images", "--model", MODEL, "--index-options", "int4_hnsw", "--dry-run");
        assertEquals(0, run.exit(), run.toString());
        assertEquals("int4_hnsw", JSON.readTree(run.out()).at("/index_body/mappings/properties/image_vector/index_options/type").asText());
    }

    @Test
    void dryRunPrintsTheDocumentedBodies() throws IOException {
        CliRun run = CliRun.of("create-index", "captions", "--model", MODEL, "--kind", "caption", "--pipeline", "fuserank-captions",
            "--dry-run");
        assertEquals(0, run.exit(), run.toString());
        JsonNode out = JSON.readTree(run.out());
        JsonNode expectedIndex = IndexMappingsTest.example("caption-index.json");
        assertEquals(expectedIndex.path("mappings"), out.path("index_body").path("mappings"));
        assertEquals("fuserank-captions", out.path("index_body").path("settings").path("index.default_pipeline").asText());
        assertEquals(IndexMappingsTest.example("caption-ingest-pipeline.json"), out.path("pipeline_body"));
    }

    @Test
    void refusesAnExistingIndexNamingIt() throws IOException {
        try (FakeNode node = new FakeNode(r -> FakeNode.Answer.json("{}"))) {
            CliRun run = CliRun.of("create-index", "images", "--model", MODEL, "--url", node.url());
            assertEquals(1, run.exit(), run.toString());
            assertTrue(run.err().contains("index [images] already exists; use --overwrite"), run.toString());
            assertEquals(List.of("HEAD /images"), node.lines());
        }
    }

    @Test
    void createsAMissingIndexWithThePipeline() throws IOException {
        try (FakeNode node = new FakeNode(r -> switch (r.method()) {
            case "HEAD", "GET" -> new FakeNode.Answer(404, "{}");
            default -> FakeNode.Answer.json("{\"acknowledged\":true}");
        })) {
            CliRun run = CliRun.of("create-index", "images", "--model", MODEL, "--url", node.url(), "--pipeline", "fuserank-images",
                "--codec", "fp16", "--shards", "2", "--replicas", "0");
            assertEquals(0, run.exit(), run.toString());
            assertEquals(List.of("HEAD /images", "GET /_ingest/pipeline/fuserank-images", "PUT /_ingest/pipeline/fuserank-images",
                "PUT /images"), node.lines());
            JsonNode index = JSON.readTree(node.request("PUT /images").body());
            assertEquals(IndexMappingsTest.example("image-index.json").path("mappings"), index.path("mappings"));
            assertEquals(JSON.readTree("{\"index.number_of_shards\":2,\"index.number_of_replicas\":0,"
                + "\"index.default_pipeline\":\"fuserank-images\"}"), index.path("settings"));
            JsonNode pipeline = JSON.readTree(node.request("PUT /_ingest/pipeline/fuserank-images").body());
            assertEquals("fp16", pipeline.at("/processors/0/fuserank/codec").asText());
            assertEquals(JSON.readTree("{\"index\":\"images\",\"kind\":\"image\",\"acknowledged\":true,\"recreated\":false,"
                + "\"pipeline\":\"fuserank-images\"}"), JSON.readTree(run.out()));
        }
    }

    @Test
    void overwriteDeletesAndRecreates() throws IOException {
        try (FakeNode node = new FakeNode(r -> FakeNode.Answer.json("{\"acknowledged\":true}"))) {
            CliRun run = CliRun.of("create-index", "images", "--model", MODEL, "--url", node.url(), "--overwrite");
            assertEquals(0, run.exit(), run.toString());
            assertEquals(List.of("HEAD /images", "DELETE /images", "PUT /images"), node.lines());
            assertTrue(run.err().contains("deleted the existing index [images]"), run.toString());
            assertTrue(JSON.readTree(run.out()).path("recreated").asBoolean(), run.toString());
        }
    }

    @Test
    void refusesToReplaceADifferentPipeline() throws IOException {
        try (FakeNode node = new FakeNode(r -> switch (r.line()) {
            case "HEAD /images" -> new FakeNode.Answer(404, "");
            case "GET /_ingest/pipeline/p" -> FakeNode.Answer.json("{\"p\":{\"processors\":[{\"set\":{\"field\":\"a\",\"value\":1}}]}}");
            default -> FakeNode.Answer.json("{\"acknowledged\":true}");
        })) {
            CliRun run = CliRun.of("create-index", "images", "--model", MODEL, "--url", node.url(), "--pipeline", "p");
            assertEquals(1, run.exit(), run.toString());
            assertTrue(run.err().contains("ingest pipeline [p] already exists with other processors"), run.toString());
            assertEquals(List.of("HEAD /images", "GET /_ingest/pipeline/p"), node.lines());
        }
    }

    @Test
    void anElasticsearchErrorIsAFailedJobWithItsReason() throws IOException {
        try (FakeNode node = new FakeNode(r -> r.method().equals("HEAD") ? new FakeNode.Answer(404, "")
            : new FakeNode.Answer(400, "{\"error\":{\"root_cause\":[{\"type\":\"invalid_index_name_exception\",\"reason\":\"Invalid index name [Images], must be lowercase\"}],"
                + "\"type\":\"invalid_index_name_exception\",\"reason\":\"Invalid index name [Images], must be lowercase\"},\"status\":400}"))) {
            CliRun run = CliRun.of("create-index", "Images", "--model", MODEL, "--url", node.url());
            assertEquals(1, run.exit(), run.toString());
            assertTrue(run.err().contains("error: PUT /Images answered 400: invalid_index_name_exception: Invalid index name [Images], must be lowercase"),
                run.toString());
        }
    }

    @Test
    void anUnreachableNodeIsAFailedJob() {
        CliRun run = CliRun.of("create-index", "images", "--model", MODEL, "--url", "http://127.0.0.1:1", "--connect-timeout", "2");
        assertEquals(1, run.exit(), run.toString());
        assertTrue(run.err().startsWith("error: "), run.toString());
    }
}
