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

    /** Channel-major values 0..255: a 2 x 1 input, mean 0, std 1/255, so no resize and no scaling is seen. */
    private static float[] preprocess(byte[] png, String alpha, boolean byScale) {
        ObjectNode m = new ObjectMapper().createObjectNode().put("resize", "pil_bicubic").put("alpha", alpha)
            .put("channel_order", "RGB").put("layout", "NCHW").put("exif_orientation", false);
        if (byScale) {
            m.put("scale", 255);
        } else {
            m.put("rescale", 1.0 / 255.0);
        }
        m.putObject("size").put("height", 1).put("width", 2);
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
