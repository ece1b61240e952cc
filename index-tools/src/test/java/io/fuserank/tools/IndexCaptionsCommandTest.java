package io.fuserank.tools;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code fuserank index --kind caption} end to end against a {@link FakeNode}: the index check
 * looks for the caption mapping's fields, and the bulk requests carry one document per caption,
 * encoded here or left for the pipeline.
 */
class IndexCaptionsCommandTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    /** Answers the mapping request with {@code mappingFile}'s mappings, the pipeline request, and every bulk item with 201. */
    private static FakeNode node(String mappingFile) throws IOException {
        JsonNode mappings = IndexMappingsTest.example(mappingFile).path("mappings");
        return new FakeNode(request -> {
            if (request.uri().startsWith("/captions/_mapping")) {
                return FakeNode.Answer.json(JSON.createObjectNode().set("captions", JSON.createObjectNode().set("mappings", mappings)).toString());
            }
            if (request.uri().startsWith("/_ingest/pipeline/")) {
                return FakeNode.Answer.json("{\"fuserank-captions\": {\"processors\": []}}");
            }
            if (request.uri().startsWith("/_bulk")) {
                return FakeNode.Answer.json(bulkResponse(request.body()));
            }
            return new FakeNode.Answer(404, "{}");
        });
    }

    private static String bulkResponse(String body) {
        ArrayNode items = JSON.createArrayNode();
        for (JsonNode action : actions(body)) {
            ObjectNode item = items.addObject().putObject("index");
            item.put("_index", action.path("_index").asText()).put("_id", action.path("_id").asText()).put("status", 201)
                .put("result", "created").put("_version", 1).put("_seq_no", 0).put("_primary_term", 1);
            item.putObject("_shards").put("total", 1).put("successful", 1).put("failed", 0);
        }
        return JSON.createObjectNode().put("took", 1).put("errors", false).set("items", items).toString();
    }

    /** The {@code index} objects of a bulk body's action lines. */
    private static List<JsonNode> actions(String body) {
        return lines(body, 0);
    }

    /** The documents of a bulk body. */
    private static List<JsonNode> documents(String body) {
        return lines(body, 1);
    }

    private static List<JsonNode> lines(String body, int parity) {
        List<JsonNode> out = new ArrayList<>();
        String[] lines = body.split("\n");
        try {
            for (int i = parity; i < lines.length; i += 2) {
                JsonNode line = JSON.readTree(lines[i]);
                out.add(parity == 0 ? line.path("index") : line);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out;
    }

    private List<JsonNode> bulkDocuments(FakeNode node) {
        List<JsonNode> out = new ArrayList<>();
        synchronized (node.requests) {
            node.requests.stream().filter(r -> r.uri().startsWith("/_bulk")).forEach(r -> out.addAll(documents(r.body())));
        }
        return out;
    }

    private Path annotations() throws IOException {
        Path file = dir.resolve("ann.json");
        Files.writeString(file, """
            [{"image": "images/test/000000.png", "caption": ["a large blue cross above a small white triangle", ""]},
             {"image": "images/test/000001.png", "caption": ["a red circle to the left of a green square"]}]""");
        return file;
    }

    /** {@code fuserank index captions --kind caption} of {@link #annotations()} against {@code node}, plus {@code args}. */
    private IndexCommandTest.Result indexCaptions(FakeNode node, String... args) throws IOException {
        List<String> all = new ArrayList<>(List.of("captions", "--kind", "caption", "--karpathy", annotations().toString(),
            "--url", node.url(), "--no-progress", "--dead-letter", dir.resolve("dl.jsonl").toString()));
        all.addAll(List.of(args));
        return IndexCommandTest.run(all.toArray(String[]::new));
    }

    @Test
    void clientSideIndexesEachGoodCaptionAndReportsTheBadOne() throws Exception {
        Path deadLetters = dir.resolve("dl.jsonl");
        try (FakeNode node = node("caption-index.json")) {
            IndexCommandTest.Result result = indexCaptions(node, "--model", EncodeCommandTest.MODEL.toString(), "--threads", "1");
            assertEquals(1, result.exitCode(), result.err());
            assertTrue(result.out().contains("indexed            2\n"), result.out());
            assertTrue(result.out().contains("failed             1 (see " + deadLetters + ")"), result.out());
            assertTrue(result.out().contains("captions/s"), result.out());
            assertTrue(result.out().contains("encoder captions/s"), result.out());
            List<JsonNode> documents = bulkDocuments(node);
            assertEquals(List.of("a large blue cross above a small white triangle", "a red circle to the left of a green square"),
                documents.stream().map(d -> d.path("caption").asText()).toList());
            assertEquals(List.of("images/test/000000.png", "images/test/000001.png"),
                documents.stream().map(d -> d.path("image_path").asText()).toList());
            assertEquals(List.of(0, 0), documents.stream().map(d -> d.path("caption_index").asInt()).toList());
            assertTrue(documents.stream().allMatch(d -> d.path("text_vector").size() == 128 && d.path("text_features").isTextual()));
            String line = Files.readString(deadLetters);
            assertTrue(line.contains("\"id\":\"" + DocumentIds.forCaption("images/test/000000.png", 1) + "\""), line);
            assertTrue(line.contains("BAD_CAPTION: caption [1] of [images/test/000000.png]: text is empty"), line);
        }
    }

    @Test
    void serverSideSendsTheTextThroughThePipeline() throws Exception {
        try (FakeNode node = node("caption-index.json")) {
            IndexCommandTest.Result result = indexCaptions(node, "--server-side", "--pipeline", "fuserank-captions");
            assertEquals(0, result.exitCode(), result.err());
            assertTrue(result.out().contains("indexed            3\n"), result.out());
            List<JsonNode> actions = new ArrayList<>();
            node.requests.stream().filter(r -> r.uri().startsWith("/_bulk")).forEach(r -> actions.addAll(actions(r.body())));
            assertEquals(3, actions.size());
            assertTrue(actions.stream().allMatch(a -> a.path("pipeline").asText().equals("fuserank-captions")), actions.toString());
            assertEquals(DocumentIds.forCaption("images/test/000000.png", 1), actions.get(1).path("_id").asText());
            JsonNode second = bulkDocuments(node).get(1);
            assertEquals(JSON.readTree("{\"caption\": \"\", \"image_path\": \"images/test/000000.png\", \"caption_index\": 1}"), second);
        }
    }

    @Test
    void anImageIndexIsRefusedNamingTheMissingCaptionField() throws Exception {
        try (FakeNode node = node("image-index.json")) {
            IndexCommandTest.Result result = indexCaptions(node, "--server-side", "--pipeline", "fuserank-captions");
            assertEquals(1, result.exitCode(), result.err());
            assertTrue(result.err().contains("error: index [captions] has no dense_vector field [text_vector] (it has [none]): "
                + "create it with fuserank create-index --kind caption"), result.err());
            assertFalse(node.lines().stream().anyMatch(l -> l.contains("_bulk")), node.lines().toString());
        }
    }
}
