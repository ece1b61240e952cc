package io.fuserank.encoder;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

/**
 * The manifest's decoding rules: {@code alpha} {@code composite_over_white} (ours) against
 * {@code pil_convert_rgb} (PIL's {@code convert("RGB")}, which drops alpha: BLIP's processor),
 * with {@code rescale} 1/255 as transformers writes it giving the same tensor as {@code scale} 255.
 */
class ImagePreprocessorDecodingTest {

    @Test
    void alphaIsCompositedOrDroppedAsTheManifestSays() throws Exception {
        BufferedImage image = new BufferedImage(2, 1, BufferedImage.TYPE_INT_ARGB);
        image.setRGB(0, 0, 0x00_0A141E); // fully transparent (10, 20, 30)
        image.setRGB(1, 0, 0x80_0A141E); // half transparent
        byte[] png = png(image);
        assertArrayEquals(new float[] {255, 132, 255, 137, 255, 142}, preprocess(png, "composite_over_white", true), 0f);
        assertArrayEquals(new float[] {10, 10, 20, 20, 30, 30}, preprocess(png, "pil_convert_rgb", false), 0f);
    }

    /**
     * 16-bit gray: our rule keeps the high byte ({@code data.load_rgb}); PIL opens it as mode
     * {@code I;16}, whose {@code convert("RGB")} clips at 255 (Pillow 12 gives 0, 100, 255, 255, 255,
     * 255 for these samples).
     */
    @Test
    void sixteenBitGrayKeepsItsHighByteOrClipsAsPilConvertDoes() throws Exception {
        int[] samples = {0, 100, 255, 256, 1000, 65535};
        BufferedImage image = new BufferedImage(samples.length, 1, BufferedImage.TYPE_USHORT_GRAY);
        image.getRaster().setPixels(0, 0, samples.length, 1, samples);
        byte[] png = png(image);
        assertArrayEquals(channels(0, 0, 0, 1, 3, 255), preprocess(png, "composite_over_white", true, samples.length), 0f);
        assertArrayEquals(channels(0, 100, 255, 255, 255, 255), preprocess(png, "pil_convert_rgb", false, samples.length), 0f);
    }

    /** The same gray values in each of the three channels, channel-major. */
    private static float[] channels(float... gray) {
        float[] out = new float[gray.length * 3];
        for (int c = 0; c < 3; c++) {
            System.arraycopy(gray, 0, out, c * gray.length, gray.length);
        }
        return out;
    }

    private static float[] preprocess(byte[] png, String alpha, boolean byScale) {
        return preprocess(png, alpha, byScale, 2);
    }

    /** Channel-major values 0..255: a width x 1 input, mean 0, std 1/255, so no resize and no scaling is seen. */
    private static float[] preprocess(byte[] png, String alpha, boolean byScale, int width) {
        ObjectNode m = new ObjectMapper().createObjectNode().put("resize", "pil_bicubic").put("alpha", alpha)
            .put("channel_order", "RGB").put("layout", "NCHW").put("exif_orientation", false);
        if (byScale) {
            m.put("scale", 255);
        } else {
            m.put("rescale", 1.0 / 255.0);
        }
        m.putObject("size").put("height", 1).put("width", width);
        m.putArray("mean").add(0).add(0).add(0);
        m.putArray("std").add(1.0 / 255).add(1.0 / 255).add(1.0 / 255);
        try {
            float[] out = ImagePreprocessor.fromManifest(m, ImagePreprocessor.Limits.DEFAULT).preprocess(png);
            for (int i = 0; i < out.length; i++) {
                out[i] = Math.round(out[i]);
            }
            return out;
        } catch (ImageDecodeException e) {
            throw new AssertionError(e);
        }
    }

    private static byte[] png(BufferedImage image) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ImageIO.write(image, "png", out);
        return out.toByteArray();
    }
}
