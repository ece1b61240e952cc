package io.fuserank.tools;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The CLI's bodies and the documented ones in example-queries/mappings/ must be the same JSON. */
class IndexMappingsTest {

    static final Path EXAMPLES = Path.of("..", "example-queries", "mappings");
    static final Path SHIPPED_MANIFEST = Path.of("..", "models", "fuserank-small", "manifest.json");
    private static final ObjectMapper JSON = new ObjectMapper();

    static JsonNode example(String file) throws IOException {
        return JSON.readTree(EXAMPLES.resolve(file).toFile());
    }

    /** The examples are written for the shipped model: its manifest's dims and similarity. */
    private static int dims() throws IOException {
        return JSON.readTree(SHIPPED_MANIFEST.toFile()).path("embedding").path("dim").asInt();
    }

    private static String similarity() throws IOException {
        return JSON.readTree(SHIPPED_MANIFEST.toFile()).path("embedding").path("similarity").asText();
    }

    @Test
    void imageIndexIsTheDocumentedOne() throws IOException {
        assertEquals(example("image-index.json"), IndexMappings.indexBody(IndexKind.IMAGE, dims(), similarity(),
            IndexMappings.VectorIndexOptions.defaults(), null, null, null));
    }

    @Test
    void captionIndexIsTheDocumentedOne() throws IOException {
        assertEquals(example("caption-index.json"), IndexMappings.indexBody(IndexKind.CAPTION, dims(), similarity(),
            IndexMappings.VectorIndexOptions.defaults(), null, null, null));
    }

    @Test
    void defaultPipelineSettingIsTheTemplatesOne() throws IOException {
        JsonNode template = example("image-index-template.json").path("template");
        ObjectNode body = IndexMappings.indexBody(IndexKind.IMAGE, dims(), similarity(),
            IndexMappings.VectorIndexOptions.defaults(), null, null, "fuserank-images");
        assertEquals(template.path("settings"), body.path("settings"));
        assertEquals(template.path("mappings"), body.path("mappings"));
    }

    @Test
    void pipelinesAreTheDocumentedOnes() throws IOException {
        assertEquals(example("ingest-pipeline.json"), IndexMappings.pipelineBody(IndexKind.IMAGE, "fuserank-small", null));
        assertEquals(example("caption-ingest-pipeline.json"), IndexMappings.pipelineBody(IndexKind.CAPTION, "fuserank-small", null));
    }

    @Test
    void pipelineCodecGoesIntoTheProcessor() throws IOException {
        ObjectNode expected = (ObjectNode) example("ingest-pipeline.json");
        ((ObjectNode) expected.path("processors").path(0).path("fuserank")).put("codec", "fp16");
        assertEquals(expected, IndexMappings.pipelineBody(IndexKind.IMAGE, "fuserank-small", "fp16"));
        JsonNode other = IndexMappings.pipelineBody(IndexKind.IMAGE, "my-model", null);
        assertEquals("my-model", other.path("processors").path(0).path("fuserank").path("model_id").asText());
        assertTrue(other.path("description").asText().contains("with my-model into"), other.toString());
    }

    @Test
    void settingsAndIndexOptions() {
        ObjectNode body = IndexMappings.indexBody(IndexKind.IMAGE, 256, "cosine",
            new IndexMappings.VectorIndexOptions("bbq_hnsw", 32, 200), 3, 0, null);
        assertEquals(3, body.path("settings").path("index.number_of_shards").asInt());
        assertEquals(0, body.path("settings").path("index.number_of_replicas").asInt());
        assertFalse(body.path("settings").has("index.default_pipeline"));
        JsonNode vector = body.path("mappings").path("properties").path("image_vector");
        assertEquals(256, vector.path("dims").asInt());
        assertEquals("cosine", vector.path("similarity").asText());
        assertEquals(JSON.createObjectNode().put("type", "bbq_hnsw").put("m", 32).put("ef_construction", 200), vector.path("index_options"));

        JsonNode flat = IndexMappings.indexBody(IndexKind.CAPTION, 128, "dot_product",
            new IndexMappings.VectorIndexOptions("int8_flat", null, null), null, null, null);
        assertEquals(JSON.createObjectNode().put("type", "int8_flat"),
            flat.path("mappings").path("properties").path("text_vector").path("index_options"));
    }

    @Test
    void indexOptionErrorsNameTheValues() {
        assertEquals("--index-options [ivf] is not one of [hnsw, int8_hnsw, int4_hnsw, bbq_hnsw, flat, int8_flat, int4_flat, bbq_flat, bbq_disk]",
            message(new IndexMappings.VectorIndexOptions("ivf", null, null), 128));
        assertEquals("--index-options [bbq_hnsw] needs at least 64 dims; the model's embedding has [32]",
            message(new IndexMappings.VectorIndexOptions("bbq_hnsw", null, null), 32));
        assertEquals("--index-options [bbq_flat] needs at least 64 dims; the model's embedding has [63]",
            message(new IndexMappings.VectorIndexOptions("bbq_flat", null, null), 63));
        assertEquals("--index-options [int4_hnsw] needs an even number of dims; the model's embedding has [127]",
            message(new IndexMappings.VectorIndexOptions("int4_hnsw", null, null), 127));
        assertEquals("--m and --ef-construction apply to the hnsw index options only, not to [flat]",
            message(new IndexMappings.VectorIndexOptions("flat", 16, null), 128));
        assertEquals("--m [1] must be between 2 and 512", message(new IndexMappings.VectorIndexOptions("hnsw", 1, null), 128));
        assertEquals("--ef-construction [5000] must be between 1 and 3200",
            message(new IndexMappings.VectorIndexOptions("hnsw", null, 5000), 128));
        // The limits themselves are fine.
        IndexMappings.indexBody(IndexKind.IMAGE, 64, "dot_product", new IndexMappings.VectorIndexOptions("bbq_hnsw", 512, 3200), null, null, null);
        IndexMappings.indexBody(IndexKind.IMAGE, 2, "dot_product", new IndexMappings.VectorIndexOptions("int4_flat", null, null), null, null, null);
    }

    @Test
    void codecErrorNamesTheValue() {
        IndexMappings.validateCodec("int8");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> IndexMappings.validateCodec("int4"));
        assertEquals("--codec [int4] is not one of [fp32, fp16, int8]", e.getMessage());
    }

    private static String message(IndexMappings.VectorIndexOptions options, int dims) {
        return assertThrows(IllegalArgumentException.class,
            () -> IndexMappings.indexBody(IndexKind.IMAGE, dims, "dot_product", options, null, null, null)).getMessage();
    }
}
