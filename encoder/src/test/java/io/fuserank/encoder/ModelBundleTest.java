package io.fuserank.encoder;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.function.Consumer;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The shipped bundle loads; each kind of defect gets its own error naming the file and field. */
class ModelBundleTest {

    /** The committed default bundle (surefire runs in the module directory). */
    static final Path SHIPPED = Path.of("..", "models", "fuserank-small").toAbsolutePath().normalize();

    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path temp;

    @Test
    void loadsTheShippedBundle() throws IOException {
        ModelBundle bundle = ModelBundle.load(SHIPPED);
        assertEquals("fuserank-small", bundle.name());
        assertEquals(128, bundle.embeddingDim());
        assertEquals("dot_product", bundle.similarity());
        assertEquals(192, bundle.featureWidth());
        assertEquals(1, bundle.featureLayers());
        assertEquals(65, bundle.imageTokens());
        assertEquals("int8", bundle.codec());
        assertEquals(32, bundle.maxTextTokens());
        assertEquals(new FeatureLayout(1, 65, 65, 192), bundle.imageFeatures());
        assertEquals("[1 x 1..32 x 192]", bundle.textFeatures().toString());
        assertEquals(64, bundle.imageSize());
        assertTrue(Files.isRegularFile(bundle.graph("fusion_itm")));
        assertTrue(bundle.fusionFlopsPerPair() > 0);
    }

    @Test
    void missingManifest() throws IOException {
        Path copy = copy();
        Files.delete(copy.resolve("manifest.json"));
        assertFails(copy, "has no [manifest.json]");
    }

    @Test
    void missingFile() throws IOException {
        Path copy = copy();
        Files.delete(copy.resolve("text_encoder.onnx"));
        assertFails(copy, "bundle file [text_encoder.onnx] listed in [manifest.json] field [files] is missing");
    }

    @Test
    void checksumMismatch() throws IOException {
        Path copy = copy();
        Files.writeString(copy.resolve("tokenizer.json"), " ", StandardOpenOption.APPEND);
        assertFails(copy, "bundle file [tokenizer.json] has sha256 [");
    }

    @Test
    void unknownCodec() throws IOException {
        Path copy = editManifest(m -> ((ObjectNode) m.get("token_features")).put("codec", "bf8"));
        assertFails(copy, "field [token_features.codec] is [bf8]; valid codecs: [fp16, fp32, int8]");
    }

    @Test
    void wrongShape() throws IOException {
        Path copy = editManifest(m -> {
            ArrayNode shape = (ArrayNode) m.at("/graphs/fusion_itm/outputs/0/shape");
            shape.set(1, 3);
        });
        assertFails(copy, "graph [fusion_itm.onnx] tensor [itm_logits] has shape [-1, 2] but [manifest.json] field [graphs.fusion_itm.outputs]");
    }

    @Test
    void wrongTensorName() throws IOException {
        Path copy = editManifest(m -> ((ObjectNode) m.at("/graphs/text_encoder/inputs/1")).put("name", "mask"));
        assertFails(copy, "graph [text_encoder.onnx] has inputs [input_ids, attention_mask] but [manifest.json] field [graphs.text_encoder.inputs] declares [input_ids, mask]");
    }

    @Test
    void itcWeightIsTheManifestsOrBlipsOne() throws IOException {
        Path chosen = editManifest(m -> ((ObjectNode) m).putObject("rerank").put("itc_weight", 64.0));
        assertEquals(64f, ModelBundle.load(chosen).itcWeight());
        Path unnamed = editManifest(m -> ((ObjectNode) m).remove("rerank"));
        assertEquals(1f, ModelBundle.load(unnamed).itcWeight());
    }

    @Test
    void badItcWeight() throws IOException {
        Path negative = editManifest(m -> ((ObjectNode) m).putObject("rerank").put("itc_weight", -2.0));
        assertFails(negative, "field [rerank.itc_weight] must be a finite number >= 0, got [-2.0]");
        Path text = editManifest(m -> ((ObjectNode) m).putObject("rerank").put("itc_weight", "heavy"));
        assertFails(text, "field [rerank.itc_weight] must be a finite number >= 0, got [\"heavy\"]");
    }

    @Test
    void unsupportedFormatVersion() throws IOException {
        Path copy = editManifest(m -> ((ObjectNode) m).put("format_version", 7));
        assertFails(copy, "field [format_version] is [7]; this fuserank reads [1]");
    }

    private static void assertFails(Path bundle, String expected) {
        ModelBundle.BundleException e = assertThrows(ModelBundle.BundleException.class, () -> ModelBundle.load(bundle));
        assertTrue(e.getMessage().contains(expected), e.getMessage());
    }

    private Path editManifest(Consumer<com.fasterxml.jackson.databind.JsonNode> edit) throws IOException {
        Path copy = copy();
        Path manifest = copy.resolve("manifest.json");
        var tree = JSON.readTree(manifest.toFile());
        edit.accept(tree);
        JSON.writeValue(manifest.toFile(), tree);
        return copy;
    }

    private Path copy() throws IOException {
        Path target = Files.createTempDirectory(temp, "bundle");
        try (Stream<Path> files = Files.walk(SHIPPED)) {
            for (Path source : (Iterable<Path>) files::iterator) {
                Path destination = target.resolve(SHIPPED.relativize(source).toString());
                if (Files.isDirectory(source)) {
                    Files.createDirectories(destination);
                } else {
                    Files.copy(source, destination);
                }
            }
        }
        return target;
    }
}
