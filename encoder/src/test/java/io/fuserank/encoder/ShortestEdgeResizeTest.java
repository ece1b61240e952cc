package io.fuserank.encoder;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ShortestEdgeResizeTest {

    private static final ShortestEdgeResize BRIDGETOWER = new ShortestEdgeResize(288, 479, 32);

    /**
     * {height, width, resized height, resized width}, from transformers 5.17's own
     * {@code get_resize_output_image_size(image, shorter=288, longer=int(1333 / 800 * 288), size_divisor=32)}
     * (image_processing_pil_bridgetower.py) run on these sizes.
     */
    private static final int[][] PROCESSOR_SIZES = {
        {288, 288, 288, 288}, {300, 400, 288, 384}, {400, 300, 384, 288}, {1000, 500, 448, 224}, {500, 1000, 224, 448},
        {1, 1, 288, 288}, {17, 33, 224, 448}, {480, 640, 288, 384}, {1080, 1920, 256, 448}, {2000, 1200, 448, 256},
        {287, 289, 288, 288}, {96, 1000, 32, 448}, {288, 479, 288, 448}, {100, 167, 256, 448}, {100, 166, 288, 448},
    };

    @Test
    void outputSizeIsTheProcessorsForEveryShape() throws ImageDecodeException {
        for (int[] c : PROCESSOR_SIZES) {
            assertArrayEquals(new int[] {c[2], c[3]}, BRIDGETOWER.outputSize(c[0], c[1]), c[0] + " x " + c[1]);
        }
    }

    @Test
    void aStripThatRoundsToNothingIsRefusedNamingItsSize() {
        // The processor gives 0 x 448 for these, and then fails inside PIL.
        for (long[] strip : new long[][] {{3, 5000}, {1, 2000}}) {
            ImageDecodeException e = assertThrows(ImageDecodeException.class, () -> BRIDGETOWER.outputSize(strip[0], strip[1]));
            assertEquals(ImageDecodeException.Reason.UNSUPPORTED_SHAPE, e.reason());
            assertTrue(e.getMessage().contains("[" + strip[1] + " x " + strip[0] + "] image"), e.getMessage());
        }
    }

    /** Channel 0 of {@code transformers.image_transforms.center_crop} on {@link #ramp} images, run on these shapes. */
    @Test
    void centerCropCropsAndZeroPadsAsTheProcessor() {
        assertArrayEquals(new float[] {0, 0, 4, 7, 19, 22, 34, 37}, channel0(ShortestEdgeResize.centerCrop(ramp(3, 5), 3, 5, 4, 2)));
        assertArrayEquals(new float[] {0, 0, 10, 13, 16, 0, 0, 0, 19, 22, 25, 0, 0, 0, 28, 31, 34, 0},
            channel0(ShortestEdgeResize.centerCrop(ramp(6, 3), 6, 3, 3, 6)));
        float[] padded = new float[25];
        padded[12] = 1;
        padded[13] = 4;
        padded[17] = 7;
        padded[18] = 10;
        assertArrayEquals(padded, channel0(ShortestEdgeResize.centerCrop(ramp(2, 2), 2, 2, 5, 5)));
    }

    @Test
    void rejectsImpossibleSettings() {
        assertThrows(IllegalArgumentException.class, () -> new ShortestEdgeResize(288, 100, 32));
        assertThrows(IllegalArgumentException.class, () -> new ShortestEdgeResize(16, 100, 32));
        assertThrows(IllegalArgumentException.class, () -> new ShortestEdgeResize(0, 100, 1));
    }

    /** HWC pixels whose value at (y, x, c) is {@code ((y * width + x) * 3 + c) % 250 + 1}, as the fixture's numpy image. */
    private static float[] ramp(int height, int width) {
        float[] out = new float[height * width * 3];
        for (int i = 0; i < out.length; i++) {
            out[i] = i % 250 + 1;
        }
        return out;
    }

    private static float[] channel0(float[] hwc) {
        float[] out = new float[hwc.length / 3];
        for (int i = 0; i < out.length; i++) {
            out[i] = hwc[i * 3];
        }
        return out;
    }
}
