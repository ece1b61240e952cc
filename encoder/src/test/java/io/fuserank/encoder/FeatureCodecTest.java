package io.fuserank.encoder;

import org.junit.jupiter.api.Test;

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
    void decodeIntoChecksTheModelShape() {
        byte[] blob = FeatureCodec.INT8.encode(random(1, 3, 4, 4));
        float[] out = new float[20];
        assertEquals(3, FeatureCodec.decodeInto(blob, 1, 4, out, 8));
        var e = assertThrows(IllegalArgumentException.class, () -> FeatureCodec.decodeInto(blob, 1, 8, out, 0));
        assertEquals("token-feature blob has [1] layers of width [4], the model expects [1] of width [8]", e.getMessage());
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
