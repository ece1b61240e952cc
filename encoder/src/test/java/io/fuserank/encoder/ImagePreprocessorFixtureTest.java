package io.fuserank.encoder;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.StreamSupport;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every decoder path against what Python's {@code data.load_rgb} and {@code data.ImageTransform}
 * make of the same file. The fixtures and expected outputs are written by
 * {@code encoder/training/tests/make_image_fixtures.py} (see its docstring for the list).
 *
 * <p>Lossless formats must give PIL's RGB bytes exactly and the tensor within 1e-3 (in practice
 * exactly). For JPEG and lossy WebP the decoders are different code (the JDK's libjpeg against
 * PIL's libjpeg-turbo, TwelveMonkeys' VP8 against libwebp), so there the dimensions (the
 * orientation) must match and the mean absolute RGB difference must be small.
 * The CMYK JPEG is only checked for its dimensions: TwelveMonkeys converts CMYK with an ICC
 * profile, PIL with a naive formula.
 */
class ImagePreprocessorFixtureTest {

    /** Mean absolute difference per RGB byte allowed for a JPEG, in levels of 255 (0 is usual: the JDK's libjpeg and PIL's libjpeg-turbo share the IDCT). */
    private static final double JPEG_MEAN_LEVELS = 3.0;
    /**
     * The same for a lossy WebP. TwelveMonkeys' VP8 decoder upsamples chroma differently from
     * libwebp: luma agrees within a level, chroma does not. On photos the mean difference is
     * 1.5 to 3 levels; on this fixture, with per-pixel colour noise and a saturated block, about 7.5.
     */
    private static final double LOSSY_WEBP_MEAN_LEVELS = 10.0;

    private static JsonNode index;
    private static ImagePreprocessor preprocessor;

    @BeforeAll
    static void loadIndex() throws IOException {
        index = new ObjectMapper().readTree(resource("index.json"));
        preprocessor = new ImagePreprocessor(index.path("size").asInt(), floats(index.path("mean")),
            floats(index.path("std")), ImagePreprocessor.Limits.DEFAULT);
    }

    @TestFactory
    List<DynamicTest> eachFixtureMatchesPython() {
        List<DynamicTest> tests = new ArrayList<>();
        for (JsonNode fixture : index.path("fixtures")) {
            tests.add(DynamicTest.dynamicTest(fixture.path("file").asText(), () -> check(fixture)));
        }
        assertTrue(tests.size() >= 30, "index lists only [" + tests.size() + "] fixtures");
        return tests;
    }

    private static void check(JsonNode fixture) throws IOException {
        String file = fixture.path("file").asText();
        byte[] encoded = resource(file);
        byte[] untouched = encoded.clone();
        ImagePreprocessor.Rgb rgb = preprocessor.decodeRgb(encoded);
        assertArrayEquals(untouched, encoded, file + ": the caller's bytes were modified");
        assertEquals(fixture.path("width").asInt(), rgb.width(), file + " width");
        assertEquals(fixture.path("height").asInt(), rgb.height(), file + " height");
        byte[] expectedRgb = resource(fixture.path("rgb").asText());
        RgbDiff diff = RgbDiff.of(expectedRgb, rgb.pixels());
        if (fixture.path("lossless").asBoolean()) {
            assertArrayEquals(expectedRgb, rgb.pixels(), file + ": RGB differs from PIL's: " + diff);
            float[] expected = littleEndianFloats(resource(fixture.path("tensor").asText()));
            float maxDiff = maxAbsDiff(expected, preprocessor.preprocess(encoded));
            assertTrue(maxDiff <= 1e-3f, String.format(Locale.ROOT, "%s: tensor max abs diff [%g] against Python", file, maxDiff));
        } else if (!"CMYK".equals(fixture.path("pil_mode").asText())) {
            double allowed = file.endsWith(".webp") ? LOSSY_WEBP_MEAN_LEVELS : JPEG_MEAN_LEVELS;
            assertTrue(diff.mean() <= allowed, file + ": RGB too far from PIL's: " + diff);
        }
    }

    @Test
    void brokenExifIsIgnored() throws IOException {
        byte[] plain = resource("baseline.jpg");
        byte[] expected = preprocessor.decodeRgb(plain).pixels();
        String[] garbage = {
            "Exif\0\0garbage, not a TIFF header",
            "Exif\0\0II*\0\u00ff\u00ff\u00ff\u007f", // IFD0 offset far outside the block
            "Exif\0\0MM\0*\0\0\0\u0008\u00ff\u00ff\u0001\u0012", // 65535 entries announced, half of one present
            "Exif\0\0",
        };
        for (String payload : garbage) {
            byte[] broken = withApp1(plain, payload.getBytes(StandardCharsets.ISO_8859_1));
            assertArrayEquals(expected, preprocessor.decodeRgb(broken).pixels(), "EXIF payload [" + payload + "]");
        }
    }

    @Test
    void exifOrientationAfterAValidBlockIsApplied() throws IOException {
        // Big-endian IFD0 with one SHORT entry: orientation 8, counter-clockwise.
        byte[] exif = {'E', 'x', 'i', 'f', 0, 0, 'M', 'M', 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 8, 0, 0, 0, 0, 0, 0};
        byte[] plain = resource("baseline.jpg");
        ImagePreprocessor.Rgb upright = preprocessor.decodeRgb(plain);
        ImagePreprocessor.Rgb rotated = preprocessor.decodeRgb(withApp1(plain, exif));
        assertEquals(upright.height(), rotated.width());
        assertEquals(upright.width(), rotated.height());
        // ROTATE_90: the source's top-right pixel becomes the top-left one.
        int topRight = (upright.width() - 1) * 3;
        for (int c = 0; c < 3; c++) {
            assertEquals(upright.pixels()[topRight + c], rotated.pixels()[c]);
        }
    }

    @Test
    void oneInstanceServesManyThreads() throws Exception {
        List<String> files = StreamSupport.stream(index.path("fixtures").spliterator(), false)
            .map(f -> f.path("file").asText()).toList();
        List<float[]> sequential = new ArrayList<>();
        for (String file : files) {
            sequential.add(preprocessor.preprocess(resource(file)));
        }
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<float[]>> parallel = new ArrayList<>();
            for (int round = 0; round < 4; round++) {
                for (String file : files) {
                    parallel.add(pool.submit(() -> preprocessor.preprocess(resource(file))));
                }
            }
            for (int i = 0; i < parallel.size(); i++) {
                assertArrayEquals(sequential.get(i % files.size()), parallel.get(i).get(), files.get(i % files.size()));
            }
        } finally {
            pool.shutdownNow();
        }
    }

    // ------------------------------------------------------------------ helpers

    /** Mean and max absolute difference between two RGB byte arrays, for assertion messages. */
    private record RgbDiff(double mean, int max, int differing) {
        static RgbDiff of(byte[] expected, byte[] actual) {
            if (expected.length != actual.length) {
                return new RgbDiff(Double.POSITIVE_INFINITY, 255, Math.max(expected.length, actual.length));
            }
            long sum = 0;
            int max = 0;
            int differing = 0;
            for (int i = 0; i < expected.length; i++) {
                int d = Math.abs((expected[i] & 0xFF) - (actual[i] & 0xFF));
                sum += d;
                max = Math.max(max, d);
                differing += d == 0 ? 0 : 1;
            }
            return new RgbDiff((double) sum / expected.length, max, differing);
        }

        @Override
        public String toString() {
            return String.format(Locale.ROOT, "mean abs diff [%.3f] max [%d] levels, [%d] bytes differ", mean, max, differing);
        }
    }

    /** {@code jpeg} with an APP1 segment carrying {@code payload} right after SOI. */
    static byte[] withApp1(byte[] jpeg, byte[] payload) {
        byte[] out = new byte[jpeg.length + 4 + payload.length];
        out[0] = (byte) 0xFF;
        out[1] = (byte) 0xD8;
        out[2] = (byte) 0xFF;
        out[3] = (byte) 0xE1;
        out[4] = (byte) ((payload.length + 2) >> 8);
        out[5] = (byte) (payload.length + 2);
        System.arraycopy(payload, 0, out, 6, payload.length);
        System.arraycopy(jpeg, 2, out, 6 + payload.length, jpeg.length - 2);
        return out;
    }

    static byte[] resource(String name) throws IOException {
        try (InputStream in = ImagePreprocessorFixtureTest.class.getResourceAsStream("/images/" + name)) {
            if (in == null) {
                throw new IOException("test resource [images/" + name + "] is missing: run make_image_fixtures.py");
            }
            return in.readAllBytes();
        }
    }

    static float[] floats(JsonNode values) {
        float[] out = new float[values.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = (float) values.get(i).doubleValue();
        }
        return out;
    }

    static float[] littleEndianFloats(byte[] bytes) {
        float[] out = new float[bytes.length / Float.BYTES];
        ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(out);
        return out;
    }

    private static float maxAbsDiff(float[] expected, float[] actual) {
        assertEquals(expected.length, actual.length, "tensor length");
        float max = 0;
        for (int i = 0; i < expected.length; i++) {
            max = Math.max(max, Math.abs(expected[i] - actual[i]));
        }
        return max;
    }
}
