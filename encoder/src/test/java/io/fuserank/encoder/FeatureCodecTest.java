package io.fuserank.encoder;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class FeatureCodecTest {

    private static TokenFeatures random(int layers, int tokens, int width, long seed) {
        Random random = new Random(seed);
        float[] v = new float[layers * tokens * width];
        for (int i = 0; i < v.length; i++) {
            // Rows of very different magnitude, like [CLS] against patch tokens.
            v[i] = (float) (random.nextGaussian() * (1 + (i / width) % 7));
        }
        return new TokenFeatures(layers, tokens, width, v);
    }

    @Test
    void fp32RoundTripIsExact() {
        TokenFeatures f = random(2, 5, 7, 1);
        byte[] blob = FeatureCodec.FP32.encode(f);
        assertEquals(FeatureCodec.HEADER_BYTES + 2 * 5 * 7 * 4, blob.length);
        TokenFeatures back = FeatureCodec.decode(blob);
        assertEquals(2, back.layers());
        assertEquals(5, back.tokens());
        assertEquals(7, back.width());
        assertArrayEquals(f.values(), back.values());
    }

    @Test
    void fp16AndInt8StayWithinTheirQuantisationError() {
        TokenFeatures f = random(1, 65, 192, 2);
        float[] fp16 = FeatureCodec.decode(FeatureCodec.FP16.encode(f)).values();
        float[] int8 = FeatureCodec.decode(FeatureCodec.INT8.encode(f)).values();
        for (int row = 0; row < 65; row++) {
            float max = 0;
            for (int i = row * 192; i < (row + 1) * 192; i++) {
                max = Math.max(max, Math.abs(f.values()[i]));
            }
            for (int i = row * 192; i < (row + 1) * 192; i++) {
                float x = f.values()[i];
                assertTrue(Math.abs(fp16[i] - x) <= Math.abs(x) * 0x1p-11 + 1e-7f, "fp16 at " + i);
                assertTrue(Math.abs(int8[i] - x) <= max / 127f / 2 * 1.0001f, "int8 at " + i);
            }
        }
    }

    @Test
    void sizesPerImageOfTheShippedShape() {
        assertEquals(49_930, FeatureCodec.FP32.encodedBytes(1, 65, 192));
        assertEquals(24_970, FeatureCodec.FP16.encodedBytes(1, 65, 192));
        assertEquals(12_750, FeatureCodec.INT8.encodedBytes(1, 65, 192));
        assertEquals(12_750, FeatureCodec.INT8.encode(random(1, 65, 192, 3)).length);
    }

    @Test
    void anAllZeroRowEncodesToZeros() {
        TokenFeatures zeros = new TokenFeatures(1, 2, 4, new float[8]);
        assertArrayEquals(new float[8], FeatureCodec.decode(FeatureCodec.INT8.encode(zeros)).values());
    }

    @Test
    void decodeIntoChecksTheLayoutAndPadsEachLayer() {
        TokenFeatures f = random(2, 3, 4, 4);
        byte[] blob = FeatureCodec.FP32.encode(f);
        float[] out = new float[3 + 2 * 5 * 4];
        assertEquals(3, FeatureCodec.decodeInto(blob, FeatureLayout.text(2, 5, 4), out, 3, 5));
        for (int layer = 0; layer < 2; layer++) {
            for (int token = 0; token < 5; token++) {
                for (int c = 0; c < 4; c++) {
                    float expected = token < 3 ? f.get(layer, token, c) : 0f;
                    assertEquals(expected, out[3 + (layer * 5 + token) * 4 + c], "layer " + layer + " token " + token);
                }
            }
        }
        var e = assertThrows(IllegalArgumentException.class, () -> FeatureCodec.decodeInto(blob, FeatureLayout.text(2, 5, 8), out, 0, 5));
        assertEquals("token-feature blob [2 x 3 x 4] does not fit the expected layout [2 x 1..5 x 8]", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> FeatureCodec.decodeInto(blob, FeatureLayout.text(2, 5, 4), out, 4, 5));
        assertEquals("token-feature blob [2 x 3 x 4] does not fit a batch buffer of [43] values at [4] padded to [5] tokens",
            e.getMessage());
    }

    @Test
    void theLayoutBoundsTokensLayersAndWidth() {
        byte[] caption = FeatureCodec.INT8.encode(random(1, 11, 4, 6));
        FeatureLayout image = FeatureLayout.image(1, 65, 4);
        assertEquals("token-feature blob [1 x 11 x 4] does not fit the expected layout [1 x 65 x 4]",
            assertThrows(IllegalArgumentException.class, () -> FeatureCodec.header(caption, image)).getMessage());
        assertEquals(11, FeatureCodec.header(caption, FeatureLayout.text(1, 32, 4)).tokens());
        assertEquals("token-feature blob [1 x 11 x 4] does not fit the expected layout [1 x 1..10 x 4]",
            assertThrows(IllegalArgumentException.class, () -> FeatureCodec.header(caption, FeatureLayout.text(1, 10, 4))).getMessage());
        assertThrows(IllegalArgumentException.class, () -> FeatureCodec.header(caption, FeatureLayout.text(2, 32, 4)));
        assertEquals(32 * 192, FeatureLayout.text(1, 32, 192).maxValues());
    }

    /** A header may claim anything: 255 x 65535 x 65535 fp32 values are ~4.4e12 bytes, far past an int. */
    @Test
    void aHeaderClaimingAHugeShapeIsAnErrorNotAnOverflow() {
        assertEquals(10L + 255L * 65535 * 65535 * 4, FeatureCodec.FP32.encodedBytes(255, 65535, 65535));
        byte[] huge = header(FeatureCodec.FP32, 255, 65535, 65535, 64);
        assertEquals("fp32 token-feature blob [255 x 65535 x 65535] must have [4380732949510] bytes, has [64]",
            assertThrows(IllegalArgumentException.class, () -> FeatureCodec.decode(huge)).getMessage());
        byte[] manyTokens = header(FeatureCodec.INT8, 1, 65535, 192, 12_750);
        assertThrows(IllegalArgumentException.class, () -> FeatureCodec.header(manyTokens));
        // a consistent blob of 65,535 tokens is well-formed, but not an image of a 65-token model
        byte[] consistent = FeatureCodec.INT8.encode(new TokenFeatures(1, 65535, 1, new float[65535]));
        assertEquals(65535, FeatureCodec.header(consistent).tokens());
        assertEquals("token-feature blob [1 x 65535 x 1] does not fit the expected layout [1 x 65 x 1]",
            assertThrows(IllegalArgumentException.class, () -> FeatureCodec.header(consistent, FeatureLayout.image(1, 65, 1)))
                .getMessage());
    }

    @Test
    void nonFiniteValuesAreRejectedAtDecodeInEveryCodec() {
        TokenFeatures f = random(1, 3, 4, 7);
        byte[] fp32 = FeatureCodec.FP32.encode(f);
        for (float bad : new float[] {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}) {
            byte[] blob = fp32.clone();
            ByteBuffer.wrap(blob).order(ByteOrder.LITTLE_ENDIAN).putFloat(FeatureCodec.HEADER_BYTES + (4 + 2) * 4, bad);
            assertEquals("fp32 token-feature blob has value [" + bad + "] at layer [0] token [1] channel [2]; values must be finite",
                assertThrows(IllegalArgumentException.class, () -> FeatureCodec.decode(blob)).getMessage());
        }
        byte[] fp16 = FeatureCodec.FP16.encode(f);
        for (short bad : new short[] {0x7C00, (short) 0xFC00, 0x7E00}) {
            byte[] blob = fp16.clone();
            ByteBuffer.wrap(blob).order(ByteOrder.LITTLE_ENDIAN).putShort(FeatureCodec.HEADER_BYTES + 11 * 2, bad);
            var e = assertThrows(IllegalArgumentException.class, () -> FeatureCodec.decode(blob));
            assertTrue(e.getMessage().endsWith("at layer [0] token [2] channel [3]; values must be finite"), e.getMessage());
        }
        byte[] int8 = FeatureCodec.INT8.encode(f);
        for (float bad : new float[] {Float.NaN, Float.POSITIVE_INFINITY, -0.5f}) {
            byte[] blob = int8.clone();
            ByteBuffer.wrap(blob).order(ByteOrder.LITTLE_ENDIAN).putFloat(FeatureCodec.HEADER_BYTES + (4 + 4), bad);
            assertEquals("int8 token-feature blob has scale [" + bad + "] at layer [0] token [1]; a scale must be finite and >= 0",
                assertThrows(IllegalArgumentException.class, () -> FeatureCodec.decode(blob)).getMessage());
        }
        // a finite scale so large that a quantised value times it overflows
        byte[] overflow = int8.clone();
        ByteBuffer.wrap(overflow).order(ByteOrder.LITTLE_ENDIAN).putFloat(FeatureCodec.HEADER_BYTES, Float.MAX_VALUE);
        var e = assertThrows(IllegalArgumentException.class, () -> FeatureCodec.decode(overflow));
        assertTrue(e.getMessage().startsWith("int8 token-feature blob has value [") && e.getMessage().contains("Infinity"), e.getMessage());
    }

    @Test
    void encodingRejectsValuesItCouldNotDecode() {
        float[] values = new float[4];
        values[2] = Float.NaN;
        TokenFeatures nan = new TokenFeatures(1, 1, 4, values);
        assertEquals("token features cannot be stored as int8: value [NaN] at token row [0] channel [2]",
            assertThrows(IllegalArgumentException.class, () -> FeatureCodec.INT8.encode(nan)).getMessage());
        TokenFeatures large = new TokenFeatures(1, 1, 1, new float[] {70_000f});
        assertEquals("token features cannot be stored as fp16: value [70000.0] at token row [0] channel [0]",
            assertThrows(IllegalArgumentException.class, () -> FeatureCodec.FP16.encode(large)).getMessage());
        assertEquals(70_000f, FeatureCodec.decode(FeatureCodec.FP32.encode(large)).values()[0]);
        assertEquals(65504f, FeatureCodec.decode(FeatureCodec.FP16.encode(new TokenFeatures(1, 1, 1, new float[] {65504f}))).values()[0]);
    }

    /**
     * Random damage to valid blobs of every codec (bytes overwritten, header fields rewritten, cut
     * or extended), with a fixed seed: decoding either succeeds with finite values or throws an
     * IllegalArgumentException, never anything else.
     */
    @Test
    void randomCorruptionsOnlyEverThrowIllegalArgument() {
        Random random = new Random(42);
        FeatureLayout layout = FeatureLayout.text(1, 16, 8);
        int decoded = 0;
        for (int round = 0; round < 3000; round++) {
            FeatureCodec codec = FeatureCodec.values()[round % 3];
            byte[] blob = codec.encode(random(1, 1 + random.nextInt(16), 8, round));
            byte[] damaged = switch (random.nextInt(4)) {
                case 0 -> {
                    byte[] b = blob.clone();
                    for (int k = 0; k <= random.nextInt(4); k++) {
                        b[random.nextInt(b.length)] = (byte) random.nextInt(256);
                    }
                    yield b;
                }
                case 1 -> {
                    byte[] b = blob.clone();
                    b[random.nextInt(FeatureCodec.HEADER_BYTES)] = (byte) random.nextInt(256);
                    yield b;
                }
                case 2 -> java.util.Arrays.copyOf(blob, random.nextInt(blob.length + 8));
                default -> {
                    byte[] b = blob.clone();
                    ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putFloat(
                        FeatureCodec.HEADER_BYTES + 4 * random.nextInt((b.length - FeatureCodec.HEADER_BYTES) / 4),
                        Float.intBitsToFloat(random.nextInt()));
                    yield b;
                }
            };
            try {
                TokenFeatures back = FeatureCodec.decode(damaged);
                for (float v : back.values()) {
                    assertTrue(Float.isFinite(v), "round " + round);
                }
                float[] out = new float[layout.maxValues()];
                FeatureCodec.decodeInto(damaged, layout, out, 0, layout.maxTokens());
                decoded++;
            } catch (IllegalArgumentException expected) {
                assertTrue(expected.getMessage() != null && expected.getMessage().isEmpty() == false, "round " + round);
            }
        }
        assertTrue(decoded > 100 && decoded < 2900, "some damage is harmless, most is not: " + decoded);
    }

    /** A blob of {@code length} bytes whose header claims {@code codec} and this shape. */
    private static byte[] header(FeatureCodec codec, int layers, int tokens, int width, int length) {
        byte[] blob = new byte[length];
        ByteBuffer.wrap(blob).order(ByteOrder.LITTLE_ENDIAN).put((byte) 'F').put((byte) 'R').put((byte) 1).put((byte) codec.ordinal())
            .put((byte) layers).put((byte) 0).putShort((short) tokens).putShort((short) width);
        return blob;
    }

    @Test
    void brokenBlobsAreClearErrors() {
        byte[] good = FeatureCodec.FP16.encode(random(1, 3, 4, 5));
        assertEquals("no token-feature blob", assertThrows(IllegalArgumentException.class, () -> FeatureCodec.decode(null)).getMessage());
        assertEquals("token-feature blob has [3] bytes, less than the [10]-byte header",
            assertThrows(IllegalArgumentException.class, () -> FeatureCodec.decode(new byte[3])).getMessage());
        byte[] magic = good.clone();
        magic[0] = 'X';
        assertEquals("token-feature blob starts with [58 52], not the magic \"FR\"",
            assertThrows(IllegalArgumentException.class, () -> FeatureCodec.decode(magic)).getMessage());
        byte[] version = good.clone();
        version[2] = 9;
        assertEquals("token-feature blob has format version [9], this code reads [1]",
            assertThrows(IllegalArgumentException.class, () -> FeatureCodec.decode(version)).getMessage());
        byte[] codec = good.clone();
        codec[3] = 7;
        assertEquals("token-feature blob has unknown codec id [7]",
            assertThrows(IllegalArgumentException.class, () -> FeatureCodec.decode(codec)).getMessage());
        byte[] truncated = java.util.Arrays.copyOf(good, good.length - 1);
        assertEquals("fp16 token-feature blob [1 x 3 x 4] must have [34] bytes, has [33]",
            assertThrows(IllegalArgumentException.class, () -> FeatureCodec.decode(truncated)).getMessage());
        assertEquals("unknown feature codec [bf16], valid: [fp32, fp16, int8]",
            assertThrows(IllegalArgumentException.class, () -> FeatureCodec.fromLabel("bf16")).getMessage());
    }
}
