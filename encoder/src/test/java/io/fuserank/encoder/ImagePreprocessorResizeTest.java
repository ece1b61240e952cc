package io.fuserank.encoder;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The resize and normalisation steps on hand-made arrays, the same cases as Python's
 * {@code tests/test_data.py}; the fixture tests check them bit for bit on real files.
 */
class ImagePreprocessorResizeTest {

    @Test
    void halvingAveragesTwoByTwoBlocks() {
        // 4 x 4 gray, values 0, 10, ..., 150; half-pixel centres land between source pixels.
        byte[] pixels = new byte[4 * 4 * 3];
        for (int i = 0; i < 16; i++) {
            pixels[3 * i] = pixels[3 * i + 1] = pixels[3 * i + 2] = (byte) (i * 10);
        }
        float[] out = ImagePreprocessor.resizeBilinear(new ImagePreprocessor.Rgb(4, 4, pixels), 2, 2);
        float[] expected = {25, 45, 105, 125}; // means of the 2 x 2 blocks
        for (int p = 0; p < 4; p++) {
            for (int c = 0; c < 3; c++) {
                assertEquals(expected[p], out[3 * p + c], 0f, "pixel " + p + " channel " + c);
            }
        }
    }

    @Test
    void sameSizeIsTheIdentity() {
        byte[] pixels = new byte[5 * 5 * 3];
        for (int i = 0; i < pixels.length; i++) {
            pixels[i] = (byte) (i * 37);
        }
        float[] out = ImagePreprocessor.resizeBilinear(new ImagePreprocessor.Rgb(5, 5, pixels), 5, 5);
        for (int i = 0; i < pixels.length; i++) {
            assertEquals(pixels[i] & 0xFF, out[i], 0f);
        }
    }

    @Test
    void upscalingClampsAtTheBorder() {
        // One pixel wide, two high: every output column repeats it, rows blend then clamp.
        byte[] pixels = {0, 0, 0, (byte) 200, (byte) 200, (byte) 200};
        float[] out = ImagePreprocessor.resizeBilinear(new ImagePreprocessor.Rgb(1, 2, pixels), 4, 4);
        float[] column = {0, 50, 150, 200}; // src y = -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to 1)
        for (int y = 0; y < 4; y++) {
            for (int x = 0; x < 4; x++) {
                assertEquals(column[y], out[(y * 4 + x) * 3], 0f, "row " + y + " column " + x);
            }
        }
    }

    @Test
    void normalizeIsPerChannel() {
        float[] out = new float[1 + 3];
        ImagePreprocessor.normalize(new float[] {0, 127.5f, 255}, 1, new float[] {0.5f, 0.5f, 0.5f},
            new float[] {0.5f, 0.25f, 0.5f}, out, 1);
        assertArrayEquals(new float[] {0, -1, 0, 1}, out); // written at the offset, nothing before it
    }

    @Test
    void normalizeLaysOutChw() {
        float[] hwc = new float[2 * 2 * 3];
        for (int i = 0; i < hwc.length; i++) {
            hwc[i] = i * 20;
        }
        float[] out = new float[hwc.length];
        float[] zero = {0, 0, 0};
        float[] one = {1, 1, 1};
        ImagePreprocessor.normalize(hwc, 4, zero, one, out, 0);
        for (int p = 0; p < 4; p++) {
            for (int c = 0; c < 3; c++) {
                assertEquals(hwc[p * 3 + c] / 255f, out[c * 4 + p], 0f, "pixel " + p + " channel " + c);
            }
        }
    }

    @Test
    void overWhiteRoundsToNearest() {
        assertEquals(255, ImagePreprocessor.overWhite(10, 0));
        assertEquals(10, ImagePreprocessor.overWhite(10, 255));
        assertEquals(128, ImagePreprocessor.overWhite(1, 127)); // 32767 / 255 = 128.498
        assertEquals(129, ImagePreprocessor.overWhite(2, 127)); // 32894 / 255 = 128.996
    }
}
