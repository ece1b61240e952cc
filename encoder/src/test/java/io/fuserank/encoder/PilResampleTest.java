package io.fuserank.encoder;

import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Properties of {@link PilResample} that hold for any input; PIL parity is {@link PilResampleFixtureTest}'s. */
class PilResampleTest {

    @Test
    void weightsOfEachOutputPixelAddUpToOne() {
        for (PilResample.Filter filter : PilResample.Filter.values()) {
            for (int[] sizes : new int[][] {{33, 12}, {12, 33}, {300, 3}, {1, 5}, {7, 7}}) {
                PilResample.AxisWeights axis = PilResample.AxisWeights.of(sizes[0], sizes[1], filter);
                for (int i = 0; i < sizes[1]; i++) {
                    long sum = 0;
                    for (int j = 0; j < axis.count()[i]; j++) {
                        sum += axis.weights()[i * axis.stride() + j];
                    }
                    // each of up to 2 * ceil(support) + 1 weights rounds by at most half a unit
                    long off = Math.abs(sum - (1 << PilResample.PRECISION_BITS));
                    assertTrue(off <= axis.stride(), filter + " " + Arrays.toString(sizes) + " pixel " + i + " is off by " + off);
                }
            }
        }
    }

    @Test
    void aDownscaleReadsMoreSourcePixelsThanTheKernelsSupport() {
        // antialiasing: at 10x down, bicubic (support 2) reads about 40 source pixels per output pixel
        PilResample.AxisWeights axis = PilResample.AxisWeights.of(300, 30, PilResample.Filter.BICUBIC);
        assertEquals(40, axis.count()[15]);
        PilResample.AxisWeights up = PilResample.AxisWeights.of(30, 300, PilResample.Filter.BICUBIC);
        assertEquals(4, up.count()[150]);
    }

    @Test
    void aFlatImageStaysFlat() {
        for (PilResample.Filter filter : PilResample.Filter.values()) {
            for (int value : new int[] {0, 1, 128, 254, 255}) {
                byte[] flat = new byte[17 * 9 * 3];
                Arrays.fill(flat, (byte) value);
                for (int[] out : new int[][] {{5, 4}, {40, 21}, {1, 1}, {17, 30}}) {
                    byte[] resized = PilResample.resize(flat, 17, 9, out[0], out[1], filter);
                    byte[] expected = new byte[out[0] * out[1] * 3];
                    Arrays.fill(expected, (byte) value);
                    assertArrayEquals(expected, resized, filter + " value " + value + " to " + Arrays.toString(out));
                }
            }
        }
    }

    @Test
    void theSameSizeIsTheSamePixels() {
        byte[] rgb = new byte[6 * 5 * 3];
        new Random(3).nextBytes(rgb);
        assertSame(rgb, PilResample.resize(rgb, 6, 5, 6, 5, PilResample.Filter.BICUBIC));
        byte[] wider = PilResample.resize(rgb, 6, 5, 9, 5, PilResample.Filter.BICUBIC);
        assertEquals(9 * 5 * 3, wider.length);
    }

    @Test
    void badArgumentsAreRefused() {
        IllegalArgumentException zero = assertThrows(IllegalArgumentException.class,
            () -> PilResample.resize(new byte[3], 1, 1, 0, 4, PilResample.Filter.BICUBIC));
        assertEquals("sizes must be positive, got [1 x 1] to [0 x 4]", zero.getMessage());
        IllegalArgumentException length = assertThrows(IllegalArgumentException.class,
            () -> PilResample.resize(new byte[5], 2, 1, 4, 4, PilResample.Filter.BICUBIC));
        assertEquals("[2 x 1] RGB needs [6] bytes, got [5]", length.getMessage());
    }
}
