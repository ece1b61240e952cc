package io.fuserank.encoder;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link PilResample} and the {@code pil_bicubic} pipeline against PIL and transformers
 * themselves. The fixtures are written by {@code encoder/training/tests/make_pil_resize_fixtures.py}
 * (its docstring lists them; {@code test_pil_resize_fixtures.py} keeps them current):
 *
 * <ul>
 *   <li>every resample case and filter: the bytes equal {@code Image.resize}'s;</li>
 *   <li>every processor case: the image file decoded here and resized equals PIL's bicubic
 *       resize of Python's decode byte for byte, and the tensor equals
 *       {@code BlipImageProcessorPil}'s {@code pixel_values} bit for bit.</li>
 * </ul>
 */
class PilResampleFixtureTest {

    private static JsonNode index;

    @BeforeAll
    static void loadIndex() throws IOException {
        index = new ObjectMapper().readTree(resource("pil_resize/index.json"));
    }

    @TestFactory
    List<DynamicTest> resampleEqualsPil() {
        List<DynamicTest> tests = new ArrayList<>();
        for (JsonNode fixture : index.path("resample")) {
            for (PilResample.Filter filter : PilResample.Filter.values()) {
                String name = fixture.path("name").asText() + " " + filter;
                tests.add(DynamicTest.dynamicTest(name, () -> checkResample(fixture, filter)));
            }
        }
        assertTrue(tests.size() >= 30, "index lists only [" + tests.size() + "] resample checks");
        return tests;
    }

    private static void checkResample(JsonNode fixture, PilResample.Filter filter) throws IOException {
        byte[] source = resource("pil_resize/" + fixture.path("source").asText());
        byte[] expected = resource("pil_resize/" + fixture.path("outputs").path(filter.name().toLowerCase(Locale.ROOT)).asText());
        byte[] actual = PilResample.resize(source, fixture.path("width").asInt(), fixture.path("height").asInt(),
            fixture.path("out_width").asInt(), fixture.path("out_height").asInt(), filter);
        assertBytesEqual(expected, actual, fixture.path("name").asText() + " " + filter);
    }

    @TestFactory
    List<DynamicTest> processorEqualsTransformers() {
        JsonNode processor = index.path("processor");
        assertEquals("BlipImageProcessorPil", processor.path("class").asText());
        assertEquals(3, processor.path("resample").asInt(), "PIL's BICUBIC");
        float[] mean = ImagePreprocessorFixtureTest.floats(processor.path("image_mean"));
        float[] std = ImagePreprocessorFixtureTest.floats(processor.path("image_std"));
        List<DynamicTest> tests = new ArrayList<>();
        for (JsonNode fixture : index.path("processor_cases")) {
            tests.add(DynamicTest.dynamicTest(fixture.path("name").asText(), () -> checkProcessor(fixture, mean, std)));
        }
        assertTrue(tests.size() >= 10, "index lists only [" + tests.size() + "] processor cases");
        return tests;
    }

    private static void checkProcessor(JsonNode fixture, float[] mean, float[] std) throws IOException {
        String name = fixture.path("name").asText();
        int height = fixture.path("height").asInt();
        int width = fixture.path("width").asInt();
        ImagePreprocessor preprocessor = new ImagePreprocessor(ResizeRule.PIL_BICUBIC, height, width, mean, std,
            ImagePreprocessor.Limits.DEFAULT);
        byte[] encoded = resource(fixture.path("image").asText());

        ImagePreprocessor.Rgb rgb = preprocessor.decodeRgb(encoded);
        assertEquals(fixture.path("decoded_width").asInt(), rgb.width(), name + ": decoded width (never subsampled)");
        assertEquals(fixture.path("decoded_height").asInt(), rgb.height(), name + ": decoded height (never subsampled)");
        byte[] resized = PilResample.resize(rgb.pixels(), rgb.width(), rgb.height(), width, height, PilResample.Filter.BICUBIC);
        assertBytesEqual(resource("pil_resize/" + fixture.path("rgb").asText()), resized, name);

        float[] expected = ImagePreprocessorFixtureTest.littleEndianFloats(resource("pil_resize/" + fixture.path("pixel_values").asText()));
        assertArrayEquals(expected, preprocessor.preprocess(encoded), name + ": pixel_values differ from the processor's");
    }

    /** Equal bytes, or a message naming the first difference and how many there are. */
    private static void assertBytesEqual(byte[] expected, byte[] actual, String what) {
        assertEquals(expected.length, actual.length, what + ": length");
        int differing = 0;
        int first = -1;
        for (int i = 0; i < expected.length; i++) {
            if (expected[i] != actual[i]) {
                differing++;
                first = first < 0 ? i : first;
            }
        }
        if (differing > 0) {
            throw new AssertionError(String.format(Locale.ROOT, "%s: [%d] of [%d] bytes differ from PIL's, the first at [%d]: [%d] vs [%d]",
                what, differing, expected.length, first, expected[first] & 0xFF, actual[first] & 0xFF));
        }
    }

    private static byte[] resource(String path) throws IOException {
        try (InputStream in = PilResampleFixtureTest.class.getResourceAsStream("/" + path)) {
            if (in == null) {
                throw new IOException("test resource [" + path + "] is missing: run make_pil_resize_fixtures.py");
            }
            return in.readAllBytes();
        }
    }
}
