package io.fuserank.encoder;

import org.junit.jupiter.api.Test;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The two shortest-edge image rules as the imported bundles declare them: BridgeTower's
 * ({@code bridgetower-tiny}: resize, then a center crop to the square input) and ViLT's
 * ({@code vilt-tiny}: each image at its own resized size). Pixel parity with the processors is
 * {@code RerankOnlyImportsTest}'s; this checks the shapes, the refusals and the memory bound.
 */
class ShortestEdgeModelsTest {

    private static final Path BUNDLES = Path.of("src", "test", "resources", "bundles");

    private static ImagePreprocessor preprocessor(String model) throws Exception {
        ModelBundle bundle = ModelBundle.load(BUNDLES.resolve(model));
        return ImagePreprocessor.fromManifest(bundle.manifest().get("image"), ImagePreprocessor.Limits.DEFAULT);
    }

    @Test
    void vilTsImagesKeepTheirResizedSize() throws Exception {
        ImagePreprocessor vilt = preprocessor("vilt-tiny");
        assertTrue(vilt.variableSize());
        for (int[] size : new int[][] {{40, 24}, {47, 61}, {160, 96}, {300, 400}, {333, 100}}) {
            ImagePreprocessor.Pixels pixels = vilt.preprocessSized(png(size[0], size[1]));
            int[] expected = vilt.shortestEdge().outputSize(size[1], size[0]);
            assertEquals(expected[0], pixels.height());
            assertEquals(expected[1], pixels.width());
            assertEquals(3 * expected[0] * expected[1], pixels.values().length);
            assertEquals(0, pixels.height() % 32);
            assertEquals(0, pixels.width() % 32);
        }
        // A fixed-size batch has no meaning for it.
        assertThrows(IllegalStateException.class, vilt::pixelsPerImage);
        assertThrows(IllegalStateException.class, () -> vilt.preprocess(png(64, 64)));
    }

    @Test
    void bridgeTowersImagesAreCroppedToTheInput() throws Exception {
        ImagePreprocessor bridgetower = preprocessor("bridgetower-tiny");
        assertFalse(bridgetower.variableSize());
        for (int[] size : new int[][] {{40, 24}, {80, 40}, {30, 60}}) {
            ImagePreprocessor.Pixels pixels = bridgetower.preprocessSized(png(size[0], size[1]));
            assertArrayEquals(new int[] {32, 32}, new int[] {pixels.height(), pixels.width()});
        }
    }

    /** A strip the resize leaves without a side is refused before it is decoded, by both rules, naming its size. */
    @Test
    void aStripWithoutAnOutputSizeIsRefused() throws Exception {
        for (String model : new String[] {"vilt-tiny", "bridgetower-tiny"}) {
            ImagePreprocessor p = preprocessor(model);
            ImageDecodeException e = assertThrows(ImageDecodeException.class, () -> p.preprocessSized(png(2000, 2)));
            assertEquals(ImageDecodeException.Reason.UNSUPPORTED_SHAPE, e.reason(), model);
            assertTrue(e.getMessage().contains("[2000 x 2] image"), e.getMessage());
        }
    }

    /** The budget is asked for the resized size the image will have, not the bound of every input. */
    @Test
    void theMemoryBudgetSeesEachImagesOwnSize() throws Exception {
        ImagePreprocessor vilt = preprocessor("vilt-tiny");
        long[] asked = new long[1];
        ImagePreprocessor counted = vilt.withBudget((bytes, what) -> {
            asked[0] = bytes;
            return () -> { };
        });
        counted.preprocessSized(png(64, 64));
        long small = asked[0];
        counted.preprocessSized(png(96, 64));
        assertTrue(asked[0] > small, asked[0] + " vs " + small);
    }

    private static byte[] png(int width, int height) throws IOException {
        BufferedImage image = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < height; y++) {
            for (int x = 0; x < width; x++) {
                image.setRGB(x, y, (x * 7 + y * 13) & 0xFFFFFF);
            }
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ImageIO.write(image, "png", out);
        return out.toByteArray();
    }
}
