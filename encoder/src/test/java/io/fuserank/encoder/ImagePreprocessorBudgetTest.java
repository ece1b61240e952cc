package io.fuserank.encoder;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static io.fuserank.encoder.ImagePreprocessorFixtureTest.resource;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The preprocessor asks its {@link MemoryBudget} for an image's decoding memory from the header,
 * before the decoder allocates the raster, and gives it back afterwards, also when decoding fails;
 * a refusal stops the decoding with {@link ImageDecodeException.Reason#OVER_MEMORY_BUDGET}.
 * Allocation is read from the JVM's per-thread counter, so "before the raster" is measured, not assumed.
 */
class ImagePreprocessorBudgetTest {

    private static final float[] HALF = {0.5f, 0.5f, 0.5f};
    /** Large enough that the 2000 x 1500 image is decoded whole (its shorter side is under 8 x 256). */
    private static final int SIZE = 256;
    private static final int WIDTH = 2000;
    private static final int HEIGHT = 1500;
    private static final long PIXELS = (long) WIDTH * HEIGHT;

    /** A black 8-bit RGB PNG of [2000 x 1500]: a few KB encoded, a 9 MB raster decoded. */
    private static byte[] largePng;

    @BeforeAll
    static void encodeLargePng() throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ImageIO.write(new BufferedImage(WIDTH, HEIGHT, BufferedImage.TYPE_3BYTE_BGR), "png", out);
        largePng = out.toByteArray();
    }

    /** Records every reservation, the bytes this thread had allocated when it was asked, and every release. */
    private static final class RecordingBudget implements MemoryBudget {
        final List<Long> reserved = new ArrayList<>();
        final List<String> described = new ArrayList<>();
        final List<Long> allocatedWhenAsked = new ArrayList<>();
        final List<Long> released = new ArrayList<>();
        private final long start = allocatedBytes();

        @Override
        public Reservation reserve(long bytes, String what) {
            allocatedWhenAsked.add(allocatedBytes() - start);
            reserved.add(bytes);
            described.add(what);
            return () -> released.add(bytes);
        }
    }

    private static long allocatedBytes() {
        return ((com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean()).getCurrentThreadAllocatedBytes();
    }

    private static ImagePreprocessor preprocessor(MemoryBudget budget) {
        return new ImagePreprocessor(SIZE, HALF, HALF, ImagePreprocessor.Limits.DEFAULT).withBudget(budget);
    }

    @Test
    void reservesTheEstimateBeforeTheRasterAndGivesItBack() throws IOException {
        assertEquals(1, ImagePreprocessor.subsampleStep(WIDTH, HEIGHT, SIZE));
        RecordingBudget budget = new RecordingBudget();
        preprocessor(budget).preprocess(largePng);

        long expected = 2L * largePng.length       // profile-free copy and stream cache
            + PIXELS * 3                            // the decoder's 8-bit RGB raster
            + PIXELS * 3                            // the RGB copy
            + ((long) HEIGHT * SIZE + SIZE * SIZE) * 3 * Float.BYTES; // the two resize passes
        assertEquals(List.of(expected), budget.reserved);
        assertEquals(List.of("decoding a [png] image of [2000 x 1500] pixels"), budget.described);
        assertTrue(budget.allocatedWhenAsked.get(0) < PIXELS,
            "asked after [" + budget.allocatedWhenAsked.get(0) + "] bytes were allocated: the raster alone is [" + 3 * PIXELS + "]");
        assertEquals(budget.reserved, budget.released);
    }

    @Test
    void refusalStopsDecodingBeforeAnyLargeAllocation() {
        IllegalStateException full = new IllegalStateException("budget is full");
        ImagePreprocessor refusing = preprocessor((bytes, what) -> {
            throw full;
        });
        long before = allocatedBytes();
        ImageDecodeException e = assertThrows(ImageDecodeException.class, () -> refusing.preprocess(largePng));
        long allocated = allocatedBytes() - before;

        assertEquals(ImageDecodeException.Reason.OVER_MEMORY_BUDGET, e.reason());
        assertSame(full, e.getCause(), "the budget's own exception is the cause");
        assertTrue(e.getMessage().startsWith("decoding a [png] image of [2000 x 1500] pixels needs ["), e.getMessage());
        assertTrue(e.getMessage().endsWith("more than the memory budget allows: budget is full"), e.getMessage());
        assertTrue(allocated < PIXELS, "allocated [" + allocated + "] bytes, the raster alone is [" + 3 * PIXELS + "]");
    }

    @Test
    void givesTheReservationBackWhenDecodingFails() throws IOException {
        RecordingBudget budget = new RecordingBudget();
        byte[] png = resource("rgb.png");
        ImageDecodeException e = assertThrows(ImageDecodeException.class,
            () -> preprocessor(budget).preprocess(Arrays.copyOf(png, png.length / 2)));

        assertEquals(ImageDecodeException.Reason.CORRUPT, e.reason());
        assertEquals(1, budget.reserved.size(), "the header was read, so the memory was reserved");
        assertEquals(budget.reserved, budget.released);
    }

    @Test
    void refusedBeforeReservingAskNothing() {
        RecordingBudget budget = new RecordingBudget();
        assertThrows(ImageDecodeException.class, () -> preprocessor(budget).preprocess(new byte[] {1, 2, 3, 4}));
        assertEquals(List.of(), budget.reserved);
    }

    @Test
    void estimateCountsTheOrientedCopyAndTheTransposedResize() {
        long raster = 400 * 300 * 8;
        long plain = ImagePreprocessor.decodingBytes(raster, 400, 300, ImageMetadata.NORMAL, 16, 16, 1000);
        assertEquals(2_000 + 400 * 300 * (8 + 3) + (300 * 16 + 16 * 16) * 12, plain);
        long flipped = ImagePreprocessor.decodingBytes(raster, 400, 300, 3, 16, 16, 1000);
        assertEquals(plain + 400 * 300 * 3, flipped, "a rotation by 180 degrees copies the RGB once more");
        long rotated = ImagePreprocessor.decodingBytes(raster, 400, 300, 6, 16, 16, 1000);
        assertEquals(flipped + (400 - 300) * 16 * 12, rotated, "after a quarter turn the resize runs over 400 rows");
        assertEquals(plain, ImagePreprocessor.decodingBytes(raster, 400, 300, 9, 16, 16, 1000), "an orientation PIL ignores copies nothing");
    }

    @Test
    void aLargeImageIsReservedAndDecodedSubsampled() throws IOException {
        RecordingBudget budget = new RecordingBudget();
        int size = 125; // the shorter side 1500 keeps at least 4 x 125: every 3rd pixel
        assertEquals(3, ImagePreprocessor.subsampleStep(WIDTH, HEIGHT, size));
        ImagePreprocessor.Rgb rgb = new ImagePreprocessor(size, HALF, HALF, ImagePreprocessor.Limits.DEFAULT).withBudget(budget)
            .decodeRgb(largePng);

        assertEquals(667, rgb.width());
        assertEquals(500, rgb.height());
        long kept = 667L * 500;
        assertEquals(List.of(2L * largePng.length + kept * (3 + 3) + (500L * size + size * size) * 3 * Float.BYTES), budget.reserved);
    }

    @Test
    void aPilRuleDecodesTheLargeImageWholeAndReservesIt() throws IOException {
        RecordingBudget budget = new RecordingBudget();
        int size = 125; // our own rule would keep every 3rd pixel, as above
        ImagePreprocessor.Rgb rgb = new ImagePreprocessor(ResizeRule.PIL_BICUBIC, size, size, HALF, HALF,
            ImagePreprocessor.Limits.DEFAULT).withBudget(budget).decodeRgb(largePng);

        assertEquals(WIDTH, rgb.width());
        assertEquals(HEIGHT, rgb.height());
        assertEquals(List.of(2L * largePng.length + PIXELS * (3 + 3) + ((long) HEIGHT * size + size * size) * 3 * Float.BYTES),
            budget.reserved);
    }

    @Test
    void subsampleStepKeepsFourTimesTheInputSizeOnTheShorterSide() {
        assertEquals(1, ImagePreprocessor.subsampleStep(640, 480, 384));
        assertEquals(1, ImagePreprocessor.subsampleStep(3071, 5000, 384), "3071 / 2 < 4 x 384");
        assertEquals(2, ImagePreprocessor.subsampleStep(3072, 5000, 384));
        assertEquals(4, ImagePreprocessor.subsampleStep(6300, 6300, 384));
        assertEquals(24, ImagePreprocessor.subsampleStep(6300, 6300, 64));
        assertEquals(1, ImagePreprocessor.subsampleStep(1, 40_000_000, 1));
    }
}
