package io.fuserank.encoder;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.Random;
import java.util.function.Consumer;
import java.util.zip.CRC32;
import java.util.zip.Deflater;

import static io.fuserank.encoder.ImagePreprocessorFixtureTest.resource;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Each kind of bad input is refused with its own reason and a message naming the value; bad configuration too. */
class ImagePreprocessorBadInputTest {

    private static final float[] HALF = {0.5f, 0.5f, 0.5f};

    private final ImagePreprocessor preprocessor = new ImagePreprocessor(8, HALF, HALF, ImagePreprocessor.Limits.DEFAULT);

    @Test
    void empty() {
        ImageDecodeException e = refused(new byte[0], ImageDecodeException.Reason.EMPTY);
        assertEquals("image is empty [0] bytes", e.getMessage());
    }

    @Test
    void randomBytes() {
        byte[] noise = new byte[4096];
        new Random(20240601L).nextBytes(noise);
        ImageDecodeException e = refused(noise, ImageDecodeException.Reason.UNSUPPORTED_FORMAT);
        String firstBytes = java.util.HexFormat.ofDelimiter(" ").formatHex(noise, 0, 8);
        assertTrue(e.getMessage().contains("[" + firstBytes + "]"), e.getMessage());
    }

    @Test
    void shorterThanAnySignature() {
        refused(new byte[] {(byte) 0x89, 'P'}, ImageDecodeException.Reason.UNSUPPORTED_FORMAT);
    }

    @Test
    void unsupportedFormats() {
        byte[] tiff = Arrays.copyOf(new byte[] {'I', 'I', 42, 0, 8, 0, 0, 0}, 64);
        ImageDecodeException e = refused(tiff, ImageDecodeException.Reason.UNSUPPORTED_FORMAT);
        assertTrue(e.getMessage().contains("[49 49 2a 00 08 00 00 00]"), e.getMessage());
        refused("%PDF-1.7\n%\u00e2\u00e3\n1 0 obj\n".getBytes(StandardCharsets.ISO_8859_1), ImageDecodeException.Reason.UNSUPPORTED_FORMAT);
    }

    @Test
    void truncatedPng() throws IOException {
        byte[] png = resource("rgb.png");
        ImageDecodeException e = refused(Arrays.copyOf(png, png.length / 2), ImageDecodeException.Reason.CORRUPT);
        assertTrue(e.getMessage().startsWith("cannot decode [png] image"), e.getMessage());
        assertTrue(e.getCause() != null, "cause kept");
    }

    @Test
    void truncatedJpeg() throws IOException {
        for (String file : new String[] {"baseline.jpg", "progressive.jpg"}) {
            byte[] jpeg = resource(file);
            ImageDecodeException e = refused(Arrays.copyOf(jpeg, jpeg.length / 2), ImageDecodeException.Reason.CORRUPT);
            assertTrue(e.getMessage().startsWith("cannot decode [JPEG] image"), file + ": " + e.getMessage());
        }
    }

    @Test
    void truncatedWebpAndGif() throws IOException {
        for (String file : new String[] {"rgb_lossless.webp", "palette_trns.gif"}) {
            byte[] encoded = resource(file);
            refused(Arrays.copyOf(encoded, encoded.length / 2), ImageDecodeException.Reason.CORRUPT);
        }
    }

    @Test
    void tooManyEncodedBytesIsCheckedFirst() {
        ImagePreprocessor small = new ImagePreprocessor(8, HALF, HALF, new ImagePreprocessor.Limits(1000, 1_000_000));
        byte[] noise = new byte[1001]; // not an image either: the size check comes before format detection
        ImageDecodeException e = assertThrows(ImageDecodeException.class, () -> small.preprocess(noise));
        assertEquals(ImageDecodeException.Reason.TOO_LARGE_ENCODED, e.reason());
        assertEquals("image has [1001] bytes, more than the limit [1000]", e.getMessage());
    }

    @Test
    void pngPixelBombIsRefusedBeforeDecoding() {
        byte[] bomb = pngHeaderOnly(30_000, 30_000);
        ImageDecodeException e = assertTimeoutPreemptively(Duration.ofSeconds(1),
            () -> assertThrows(ImageDecodeException.class, () -> preprocessor.preprocess(bomb)));
        assertEquals(ImageDecodeException.Reason.TOO_MANY_PIXELS, e.reason());
        assertEquals("image has [30000 x 30000] = [900000000] pixels, more than the limit [40000000]", e.getMessage());
    }

    @Test
    void jpegPixelBombIsRefusedBeforeDecoding() throws IOException {
        byte[] jpeg = resource("baseline.jpg");
        int sof = indexOf(jpeg, new byte[] {(byte) 0xFF, (byte) 0xC0});
        // SOF0: FF C0, length (2), precision (1), height (2), width (2)
        jpeg[sof + 5] = (byte) 0xEA;
        jpeg[sof + 6] = 0x60; // height 60000
        jpeg[sof + 7] = (byte) 0xEA;
        jpeg[sof + 8] = 0x60; // width 60000
        ImageDecodeException e = assertTimeoutPreemptively(Duration.ofSeconds(1),
            () -> assertThrows(ImageDecodeException.class, () -> preprocessor.preprocess(jpeg)));
        assertEquals(ImageDecodeException.Reason.TOO_MANY_PIXELS, e.reason());
        assertTrue(e.getMessage().startsWith("image has [60000 x 60000] = [3600000000] pixels"), e.getMessage());
    }

    @Test
    void pixelLimitIsInclusive() throws IOException {
        byte[] png = resource("rgb.png"); // 33 x 19 = 627 pixels
        new ImagePreprocessor(8, HALF, HALF, new ImagePreprocessor.Limits(1 << 20, 627)).preprocess(png);
        ImagePreprocessor tight = new ImagePreprocessor(8, HALF, HALF, new ImagePreprocessor.Limits(1 << 20, 626));
        ImageDecodeException e = assertThrows(ImageDecodeException.class, () -> tight.preprocess(png));
        assertEquals(ImageDecodeException.Reason.TOO_MANY_PIXELS, e.reason());
    }

    @Test
    void outputSlotMustFit() throws IOException {
        byte[] png = resource("rgb.png");
        float[] batch = new float[2 * 3 * 8 * 8];
        preprocessor.preprocessInto(png, batch, 3 * 8 * 8);
        assertThrows(IndexOutOfBoundsException.class, () -> preprocessor.preprocessInto(png, batch, 3 * 8 * 8 + 1));
        assertThrows(IndexOutOfBoundsException.class, () -> preprocessor.preprocessInto(png, batch, -1));
    }

    // ------------------------------------------------------------------ configuration

    @Test
    void constructorValidates() {
        ImagePreprocessor.Limits limits = ImagePreprocessor.Limits.DEFAULT;
        assertRefused("height and width must be in [1, 8192], got [0] and [0]", () -> new ImagePreprocessor(0, HALF, HALF, limits));
        assertRefused("height and width must be in [1, 8192], got [8] and [8193]",
            () -> new ImagePreprocessor(ResizeRule.PIL_BICUBIC, 8, 8193, HALF, HALF, limits));
        assertRefused("mean and std need 3 values each, got [0.5, 0.5] and [0.5, 0.5, 0.5]",
            () -> new ImagePreprocessor(8, new float[] {0.5f, 0.5f}, HALF, limits));
        assertRefused("mean must be finite and std finite and non-zero, got [0.5, 0.5, 0.5] and [0.5, 0.0, 0.5]",
            () -> new ImagePreprocessor(8, HALF, new float[] {0.5f, 0f, 0.5f}, limits));
        assertRefused("limits must be positive, got maxEncodedBytes [0] and maxPixels [10]",
            () -> new ImagePreprocessor.Limits(0, 10));
        assertRefused("limits must be positive, got maxEncodedBytes [10] and maxPixels [-1]",
            () -> new ImagePreprocessor.Limits(10, -1));
    }

    @Test
    void manifestReadsSizeMeanAndStd() throws IOException {
        ObjectNode image = manifestImage();
        image.put("size", 5);
        image.putArray("mean").add(0.48145466).add(0.4578275).add(0.40821073);
        ImagePreprocessor fromManifest = ImagePreprocessor.fromManifest(image, ImagePreprocessor.Limits.DEFAULT);
        ImagePreprocessor direct = new ImagePreprocessor(5, new float[] {0.48145466f, 0.4578275f, 0.40821073f}, HALF,
            ImagePreprocessor.Limits.DEFAULT);
        assertEquals(5, fromManifest.size());
        byte[] png = resource("rgba.png");
        assertTrue(Arrays.equals(direct.preprocess(png), fromManifest.preprocess(png)));
    }

    @Test
    void manifestNamesAPilRuleAndANonSquareSize() throws IOException {
        ObjectNode image = manifestImage();
        image.put("resize", "pil_bicubic");
        image.putObject("size").put("height", 6).put("width", 10);
        ImagePreprocessor fromManifest = ImagePreprocessor.fromManifest(image, ImagePreprocessor.Limits.DEFAULT);
        ImagePreprocessor direct = new ImagePreprocessor(ResizeRule.PIL_BICUBIC, 6, 10, HALF, HALF, ImagePreprocessor.Limits.DEFAULT);
        assertEquals(ResizeRule.PIL_BICUBIC, fromManifest.rule());
        assertEquals(6, fromManifest.height());
        assertEquals(10, fromManifest.width());
        assertThrows(IllegalStateException.class, fromManifest::size);
        byte[] png = resource("rgba.png");
        float[] pixels = fromManifest.preprocess(png);
        assertEquals(3 * 6 * 10, pixels.length);
        assertTrue(Arrays.equals(direct.preprocess(png), pixels));
    }

    @Test
    void manifestWithAnotherPipelineIsRefused() {
        String rules = "[bilinear_half_pixel_no_antialias, pil_bilinear, pil_bicubic, pil_lanczos]";
        assertManifestRefused(i -> i.put("resize", "bicubic"), "manifest field [image.resize] is [\"bicubic\"], this encoder implements " + rules);
        assertManifestRefused(i -> i.put("resize", 3), "manifest field [image.resize] is [3], this encoder implements " + rules);
        assertManifestRefused(i -> i.remove("resize"), "manifest field [image.resize] is [missing], this encoder implements " + rules);
        assertManifestRefused(i -> i.put("alpha", "drop"), "manifest field [image.alpha] is [\"drop\"], this encoder implements [composite_over_white, pil_convert_rgb]");
        assertManifestRefused(i -> i.put("channel_order", "BGR"), "manifest field [image.channel_order] is [\"BGR\"], this encoder implements [RGB]");
        assertManifestRefused(i -> i.put("layout", "NHWC"), "manifest field [image.layout] is [\"NHWC\"], this encoder implements [NCHW]");
        assertManifestRefused(i -> i.put("scale", 1), "manifest field [image.scale] is [1], this encoder implements [255]");
        assertManifestRefused(i -> i.put("exif_orientation", "yes"),
            "manifest field [image.exif_orientation] is [\"yes\"], this encoder implements [true, false]");
        assertManifestRefused(i -> i.put("rescale", 0.5).remove("scale"), "manifest field [image.rescale] is [0.5], this encoder implements [1/255]");
        assertManifestRefused(i -> i.put("size", "64"),
            "manifest field [image.size] is [\"64\"], this encoder implements [an integer or {\"height\": h, \"width\": w}]");
        assertManifestRefused(i -> i.putObject("size").put("height", 64),
            "manifest field [image.size.width] is [missing], this encoder implements [an integer]");
        assertManifestRefused(i -> i.putArray("std").add(0.5).add(0.5), "manifest field [image.std] is [[0.5,0.5]], this encoder implements [3 numbers]");
        assertManifestRefused(i -> i.putArray("mean").add(0.5).add("x").add(0.5), "manifest field [image.mean] is [[0.5,\"x\",0.5]], this encoder implements [3 numbers]");
    }

    // ------------------------------------------------------------------ helpers

    private ImageDecodeException refused(byte[] encoded, ImageDecodeException.Reason reason) {
        ImageDecodeException e = assertThrows(ImageDecodeException.class, () -> preprocessor.preprocess(encoded));
        assertEquals(reason, e.reason(), e.getMessage());
        return e;
    }

    private static void assertRefused(String message, Runnable construct) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, construct::run);
        assertEquals(message, e.getMessage());
    }

    /** The image object of the shipped manifest's form, as {@code data.ImageTransform.manifest()} writes it. */
    private static ObjectNode manifestImage() {
        ObjectNode image = new ObjectMapper().createObjectNode();
        image.put("size", 64);
        image.putArray("mean").add(0.5).add(0.5).add(0.5);
        image.putArray("std").add(0.5).add(0.5).add(0.5);
        image.put("resize", "bilinear_half_pixel_no_antialias");
        image.put("alpha", "composite_over_white");
        image.put("exif_orientation", true);
        image.put("channel_order", "RGB");
        image.put("layout", "NCHW");
        image.put("scale", 255);
        return image;
    }

    private static void assertManifestRefused(Consumer<ObjectNode> change, String message) {
        ObjectNode image = manifestImage();
        change.accept(image);
        assertRefused(message, () -> ImagePreprocessor.fromManifest(image, ImagePreprocessor.Limits.DEFAULT));
    }

    /** A valid PNG header declaring {@code width x height} RGB pixels, with one tiny IDAT: what a decompression bomb looks like before decoding. */
    private static byte[] pngHeaderOnly(int width, int height) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'});
        chunk(out, "IHDR", ByteBuffer.allocate(13).putInt(width).putInt(height).put((byte) 8).put((byte) 2).array());
        Deflater deflater = new Deflater();
        deflater.setInput(new byte[] {0, 0, 0, 0}); // filter byte and one pixel of the first row
        deflater.finish();
        byte[] idat = new byte[64];
        int length = deflater.deflate(idat);
        deflater.end();
        chunk(out, "IDAT", Arrays.copyOf(idat, length));
        chunk(out, "IEND", new byte[0]);
        return out.toByteArray();
    }

    private static void chunk(ByteArrayOutputStream out, String type, byte[] data) {
        byte[] typeBytes = type.getBytes(StandardCharsets.US_ASCII);
        CRC32 crc = new CRC32();
        crc.update(typeBytes);
        crc.update(data);
        out.writeBytes(ByteBuffer.allocate(4).putInt(data.length).array());
        out.writeBytes(typeBytes);
        out.writeBytes(data);
        out.writeBytes(ByteBuffer.allocate(4).putInt((int) crc.getValue()).array());
    }

    private static int indexOf(byte[] haystack, byte[] needle) {
        for (int i = 0; i + needle.length <= haystack.length; i++) {
            if (Arrays.equals(haystack, i, i + needle.length, needle, 0, needle.length)) {
                return i;
            }
        }
        throw new AssertionError("marker not found");
    }
}
