package io.fuserank.encoder;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.stream.StreamSupport;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The shipped bundle's reference images through the Java pipeline give the tensors the Python
 * export wrote next to them ({@code reference/pixels.bin}), with the preprocessor built from the
 * bundle's own manifest: what the plugin will do at query and index time.
 */
class ImagePreprocessorReferenceTest {

    private static final Path BUNDLE = Path.of("..", "models", "fuserank-small");

    @Test
    void referenceImagesMatchThePythonTensors() throws IOException {
        ObjectMapper json = new ObjectMapper();
        JsonNode manifest = json.readTree(BUNDLE.resolve("manifest.json").toFile());
        JsonNode reference = json.readTree(BUNDLE.resolve("reference/reference.json").toFile());
        ImagePreprocessor preprocessor = ImagePreprocessor.fromManifest(manifest.get("image"), ImagePreprocessor.Limits.DEFAULT);
        int size = preprocessor.size();
        JsonNode pixels = reference.path("arrays").path("pixels");
        assertEquals("float32", pixels.path("dtype").asText());
        List<Integer> shape = StreamSupport.stream(pixels.path("shape").spliterator(), false).map(JsonNode::asInt).toList();
        assertEquals(List.of(reference.path("images").size(), 3, size, size), shape);

        float[] expected = readFloats(BUNDLE.resolve("reference").resolve(pixels.path("file").asText()));
        int perImage = 3 * size * size;
        float[] batch = new float[expected.length];
        for (int i = 0; i < reference.path("images").size(); i++) {
            byte[] encoded = Files.readAllBytes(BUNDLE.resolve(reference.path("images").get(i).asText()));
            preprocessor.preprocessInto(encoded, batch, i * perImage);
        }
        for (int i = 0; i < reference.path("images").size(); i++) {
            double maxDiff = 0;
            for (int j = i * perImage; j < (i + 1) * perImage; j++) {
                maxDiff = Math.max(maxDiff, Math.abs(batch[j] - expected[j]));
            }
            // Same float32 operations in the same order: expected to be exactly 0.
            assertEquals(0, maxDiff, 1e-3, String.format(Locale.ROOT,
                "image [%s]: max abs diff [%g] against Python", reference.path("images").get(i).asText(), maxDiff));
        }
    }

    static float[] readFloats(Path file) throws IOException {
        ByteBuffer bytes = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
        float[] out = new float[bytes.remaining() / Float.BYTES];
        bytes.asFloatBuffer().get(out);
        return out;
    }
}
