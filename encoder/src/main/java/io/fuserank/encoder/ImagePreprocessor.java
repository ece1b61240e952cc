package io.fuserank.encoder;

import com.fasterxml.jackson.databind.JsonNode;
import com.twelvemonkeys.imageio.plugins.jpeg.JPEGImageReaderSpi;
import com.twelvemonkeys.imageio.plugins.webp.WebPImageReaderSpi;

import javax.imageio.IIOException;
import javax.imageio.ImageIO;
import javax.imageio.ImageReadParam;
import javax.imageio.ImageReader;
import javax.imageio.ImageTypeSpecifier;
import javax.imageio.spi.IIORegistry;
import javax.imageio.spi.ImageReaderSpi;
import javax.imageio.stream.ImageInputStream;
import javax.imageio.stream.MemoryCacheImageInputStream;
import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.ColorModel;
import java.awt.image.ComponentColorModel;
import java.awt.image.DataBuffer;
import java.awt.image.DirectColorModel;
import java.awt.image.IndexColorModel;
import java.awt.image.Raster;
import java.awt.image.SampleModel;
import java.awt.image.WritableRaster;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Optional;

/**
 * Encoded image bytes to the float32 tensor the image encoder takes, reproducing the Python
 * training pipeline ({@code encoder/training/data.py}: {@code load_rgb}, {@code resize_bilinear},
 * {@code normalize}) step by step, so the vectors in the index are the ones the model learned on:
 *
 * <ol>
 *   <li>decode with javax.imageio (JPEG and WebP by TwelveMonkeys, PNG, GIF and BMP by the JDK),
 *       first frame only, keeping only every {@link #subsampleStep s}-th pixel of every s-th row
 *       of an image much larger than the model's input ({@code data.subsample_step}; our own
 *       resize rule only, see {@link ResizeRule}), then apply the EXIF orientation
 *       ({@link ImageMetadata});</li>
 *   <li>to 8-bit RGB from the raster samples, as PIL stores them: gray repeated, 16-bit samples
 *       keep the high byte (under {@code pil_convert_rgb}, 16-bit gray without alpha clips at 255
 *       instead, as PIL's {@code convert("RGB")} of its {@code I;16} mode does), alpha (including palette tRNS) composited over white with
 *       {@code (c * a + 255 * (255 - a) + 127) / 255}; embedded ICC profiles are ignored, as PIL
 *       ignores them;</li>
 *   <li>resize to {@code height x width} by the manifest's {@link ResizeRule}: ours is bilinear,
 *       half-pixel centres, no antialiasing, float32, horizontal pass first; the {@code pil_*}
 *       rules are PIL's {@code Image.resize} byte for byte ({@link PilResample}); where the
 *       manifest names {@code shortest_edge} (BridgeTower's processor) the resize keeps the aspect
 *       and a center crop gives the input size ({@link ShortestEdgeResize});</li>
 *   <li>{@code (v / 255 - mean[c]) / std[c]} in float32, CHW. On 8-bit values this equals
 *       transformers' {@code rescale} (float64 {@code v * (1 / 255)} cast to float32) followed by
 *       its float32 {@code normalize} bit for bit: the two casts agree for every v in 0..255.</li>
 * </ol>
 *
 * <p>For PNG, GIF, BMP and lossless WebP the RGB bytes equal PIL's and the tensor equals Python's
 * bit for bit (Java {@code float} arithmetic never fuses, like numpy's). Where Java and PIL
 * differ:
 *
 * <ul>
 *   <li>JPEG: the JDK's libjpeg and PIL's libjpeg-turbo share the integer IDCT and the chroma
 *       upsampling, so the pixels are usually identical, but nothing guarantees it across
 *       builds; a level or two is possible.</li>
 *   <li>CMYK and YCCK JPEG: without a CMYK ICC profile configured for TwelveMonkeys (none is by
 *       default) it uses the same multiplicative formula as PIL; with one, colours differ.</li>
 *   <li>lossy WebP: TwelveMonkeys' VP8 decoder upsamples chroma differently from libwebp; luma
 *       agrees within a level, colours differ by a few levels on average.</li>
 *   <li>GIF and animated WebP whose first frame is smaller than the canvas: PIL returns the
 *       canvas with the frame placed on it, the readers here the frame alone.</li>
 *   <li>PNG EXIF or XMP kept in text chunks is not read (see {@link ImageMetadata}).</li>
 * </ul>
 *
 * <p>One instance is shared by all threads: its fields are immutable and every call creates
 * and disposes its own reader.
 */
public final class ImagePreprocessor {

    /** The manifest value of our alpha step ({@code data._composite_over_white}). */
    static final String ALPHA = "composite_over_white";

    /**
     * The manifest value of PIL's {@code convert("RGB")} as BLIP's processor and ALBEF's loader apply
     * it: alpha (and palette transparency) dropped, the colour samples kept as stored.
     */
    static final String ALPHA_DROPPED = "pil_convert_rgb";

    /** Large enough for any real input size, small enough that {@code 3 * height * width} fits an int. */
    static final int MAX_SIZE = 8192;

    /**
     * How many times the model's input size an image's shorter side keeps after subsampling
     * ({@code data.SUBSAMPLE_FACTOR}): enough that the bilinear resize still sees several source
     * pixels per output pixel, so only images far larger than the model needs are thinned.
     */
    static final int SUBSAMPLE_FACTOR = 4;

    /**
     * The readers, in probing order. An explicit list instead of {@link ImageIO}'s registry scan:
     * inside an Elasticsearch plugin the plugin's class loader is not scanned, so TwelveMonkeys'
     * readers would silently be missing (and the JDK's own JPEG reader used instead, or none).
     */
    private static final List<ImageReaderSpi> READERS = List.of(
        twelveMonkeysJpeg(), new WebPImageReaderSpi(), jdkReader("png"), jdkReader("gif"), jdkReader("bmp"));

    private static final int SIGNATURE_BYTES_SHOWN = 8;

    /** Guards checked before any pixel buffer is allocated. */
    public record Limits(long maxEncodedBytes, long maxPixels) {
        /** 32 MiB of encoded bytes; 40 megapixels (a large phone photo; 160 MB as 8-bit RGBA). */
        public static final Limits DEFAULT = new Limits(32L << 20, 40_000_000L);

        public Limits {
            if (maxEncodedBytes <= 0 || maxPixels <= 0) {
                throw new IllegalArgumentException(String.format(Locale.ROOT,
                    "limits must be positive, got maxEncodedBytes [%d] and maxPixels [%d]", maxEncodedBytes, maxPixels));
            }
        }
    }

    /** Decoded 8-bit RGB, row-major, 3 bytes per pixel (HWC), orientation applied. */
    record Rgb(int width, int height, byte[] pixels) {
        Rgb {
            if ((long) width * height * 3 != pixels.length) {
                throw new IllegalArgumentException(String.format(Locale.ROOT,
                    "[%d x %d] RGB needs [%d] bytes, got [%d]", width, height, (long) width * height * 3, pixels.length));
            }
        }
    }

    private final ResizeRule rule;
    /** Null: resize straight to {@code height x width}; else resize keeping the aspect, then center-crop to it. */
    private final ShortestEdgeResize shortestEdge;
    /** With {@link #shortestEdge}: crop to {@code height x width} (BridgeTower), or keep each image's resized size (ViLT). */
    private final boolean centerCrop;
    private final int height;
    private final int width;
    private final float[] mean;
    private final float[] std;
    private final Limits limits;
    private final MemoryBudget budget;
    private final Decoding decoding;

    /**
     * How a decoded image becomes RGB before the resize: alpha composited over white (our rule) or
     * dropped (PIL's {@code convert("RGB")}), and whether the EXIF/XMP orientation is applied.
     */
    public record Decoding(boolean compositeAlpha, boolean exifOrientation) {
        /** Our own rule ({@code data.load_rgb}). */
        public static final Decoding OWN = new Decoding(true, true);
    }

    /**
     * Our own pipeline ({@link ResizeRule#BILINEAR_HALF_PIXEL}) to a {@code size x size} input.
     *
     * @param mean per-channel mean, as numpy's float32 would hold it
     * @param std  per-channel standard deviation, none zero
     */
    public ImagePreprocessor(int size, float[] mean, float[] std, Limits limits) {
        this(ResizeRule.BILINEAR_HALF_PIXEL, size, size, mean, std, limits);
    }

    /**
     * @param rule   how the decoded image is resized
     * @param height the model's input height
     * @param width  the model's input width
     * @param mean   per-channel mean, as numpy's float32 would hold it
     * @param std    per-channel standard deviation, none zero
     */
    public ImagePreprocessor(ResizeRule rule, int height, int width, float[] mean, float[] std, Limits limits) {
        this(rule, null, true, height, width, mean, std, limits, MemoryBudget.UNBOUNDED, Decoding.OWN);
    }

    private ImagePreprocessor(ResizeRule rule, ShortestEdgeResize shortestEdge, boolean centerCrop, int height, int width, float[] mean,
                              float[] std, Limits limits, MemoryBudget budget, Decoding decoding) {
        if (height < 1 || height > MAX_SIZE || width < 1 || width > MAX_SIZE) {
            throw new IllegalArgumentException(String.format(Locale.ROOT,
                "height and width must be in [1, %d], got [%d] and [%d]", MAX_SIZE, height, width));
        }
        if (mean == null || std == null || mean.length != 3 || std.length != 3) {
            throw new IllegalArgumentException("mean and std need 3 values each, got "
                + Arrays.toString(mean) + " and " + Arrays.toString(std));
        }
        for (int c = 0; c < 3; c++) {
            if (!Float.isFinite(mean[c]) || !Float.isFinite(std[c]) || std[c] == 0f) {
                throw new IllegalArgumentException("mean must be finite and std finite and non-zero, got "
                    + Arrays.toString(mean) + " and " + Arrays.toString(std));
            }
        }
        this.rule = Objects.requireNonNull(rule, "rule");
        if (shortestEdge != null && rule.subsamples()) {
            throw new IllegalArgumentException("a shortest-edge resize is one of the pil_* rules, not [" + rule.manifestName() + "]");
        }
        this.shortestEdge = shortestEdge;
        this.centerCrop = centerCrop;
        this.height = height;
        this.width = width;
        this.mean = mean.clone();
        this.std = std.clone();
        this.limits = Objects.requireNonNull(limits, "limits");
        this.budget = Objects.requireNonNull(budget, "budget");
        this.decoding = Objects.requireNonNull(decoding, "decoding");
    }

    /**
     * This preprocessor, reserving each image's decoding memory ({@link #decodingBytes}) from
     * {@code budget} before any pixel buffer is allocated; without one the budget is
     * {@link MemoryBudget#UNBOUNDED}.
     */
    public ImagePreprocessor withBudget(MemoryBudget budget) {
        return new ImagePreprocessor(rule, shortestEdge, centerCrop, height, width, mean, std, limits, budget, decoding);
    }

    /**
     * From a bundle manifest's {@code "image"} object, as {@code data.ImageTransform.manifest()}
     * writes it. The fields naming the steps must name ones this class implements, so a
     * bundle trained with another pipeline fails at load instead of giving wrong vectors.
     * {@code size} is one integer (a square input) or {@code {"height": h, "width": w}}.
     *
     * @throws IllegalArgumentException naming the field and its value
     */
    public static ImagePreprocessor fromManifest(JsonNode image, Limits limits) {
        Objects.requireNonNull(image, "image");
        JsonNode resize = image.path("resize");
        ResizeRule rule = (resize.isTextual() ? ResizeRule.byManifestName(resize.textValue()) : Optional.<ResizeRule>empty())
            .orElseThrow(() -> badField("resize", resize, ResizeRule.manifestNames()));
        JsonNode alpha = image.path("alpha");
        if (!alpha.isTextual() || !(alpha.textValue().equals(ALPHA) || alpha.textValue().equals(ALPHA_DROPPED))) {
            throw badField("alpha", alpha, ALPHA + ", " + ALPHA_DROPPED);
        }
        requireText(image, "channel_order", "RGB");
        requireText(image, "layout", "NCHW");
        // v / 255 as our export writes it (scale), or v * (1 / 255) as transformers' processors do (rescale): the same float32 values
        JsonNode scale = image.path("scale");
        JsonNode rescale = image.path("rescale");
        boolean byScale = scale.isNumber() && scale.doubleValue() == 255.0;
        boolean byRescale = scale.isMissingNode() && rescale.isNumber() && rescale.doubleValue() == 1.0 / 255.0;
        if (!byScale && !byRescale) {
            throw scale.isMissingNode() && !rescale.isMissingNode() ? badField("rescale", rescale, "1/255") : badField("scale", scale, "255");
        }
        JsonNode exif = image.path("exif_orientation");
        if (!exif.isBoolean()) {
            throw badField("exif_orientation", exif, "true, false");
        }
        Decoding decoding = new Decoding(alpha.textValue().equals(ALPHA), exif.booleanValue());
        ShortestEdgeResize shortestEdge = shortestEdge(image, rule);
        JsonNode size = image.path("size");
        int height;
        int width;
        boolean crop = image.path("center_crop").asBoolean(false);
        if (shortestEdge != null && crop == false) {
            if (size.isMissingNode() == false) {
                throw badField("size", size, "no size: with shortest_edge and no center_crop each image keeps its resized size");
            }
            // Inputs vary; these bound them (each side is at most longest_edge).
            height = shortestEdge.longestEdge();
            width = shortestEdge.longestEdge();
        } else if (size.isObject()) {
            height = intField(size, "height");
            width = intField(size, "width");
        } else if (size.isIntegralNumber() && size.canConvertToInt()) {
            height = size.intValue();
            width = height;
        } else {
            throw badField("size", size, "an integer or {\"height\": h, \"width\": w}");
        }
        return new ImagePreprocessor(rule, shortestEdge, crop, height, width, floats(image, "mean"), floats(image, "std"), limits,
            MemoryBudget.UNBOUNDED, decoding);
    }

    /**
     * {@code image.shortest_edge}, {@code longest_edge} and {@code size_divisor}, with
     * {@code center_crop} true (BridgeTower's processor: then a crop to the input {@code size}) or
     * false (ViLT's: each image keeps its resized size), or null where {@code shortest_edge} is absent.
     */
    private static ShortestEdgeResize shortestEdge(JsonNode image, ResizeRule rule) {
        JsonNode shortest = image.path("shortest_edge");
        if (shortest.isMissingNode()) {
            for (String field : List.of("longest_edge", "size_divisor", "center_crop")) {
                if (image.has(field)) {
                    throw badField(field, image.path(field), "nothing without shortest_edge");
                }
            }
            return null;
        }
        JsonNode crop = image.path("center_crop");
        if (crop.isBoolean() == false) {
            throw badField("center_crop", crop, "true, false");
        }
        if (rule.subsamples()) {
            throw badField("resize", image.path("resize"), "a pil_* rule with shortest_edge");
        }
        try {
            return new ShortestEdgeResize(positiveInt(image, "shortest_edge"), positiveInt(image, "longest_edge"),
                positiveInt(image, "size_divisor"));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("manifest fields [image.shortest_edge, image.longest_edge, image.size_divisor]: "
                + e.getMessage(), e);
        }
    }

    private static int positiveInt(JsonNode image, String field) {
        JsonNode value = image.path(field);
        if (!value.isIntegralNumber() || !value.canConvertToInt() || value.intValue() < 1 || value.intValue() > MAX_SIZE) {
            throw badField(field, value, "an integer in [1, " + MAX_SIZE + "]");
        }
        return value.intValue();
    }

    /** The shortest-edge resize, null where the image is resized straight to the input size. */
    public ShortestEdgeResize shortestEdge() {
        return shortestEdge;
    }

    /**
     * Whether each image keeps its own resized size (ViLT's processor: a shortest-edge resize and no
     * crop); then {@link #height()} and {@link #width()} only bound the inputs, and images are
     * preprocessed with {@link #preprocessSized}.
     */
    public boolean variableSize() {
        return shortestEdge != null && centerCrop == false;
    }

    public Decoding decoding() {
        return decoding;
    }

    private static int intField(JsonNode size, String field) {
        JsonNode value = size.path(field);
        if (!value.isIntegralNumber() || !value.canConvertToInt()) {
            throw badField("size." + field, value, "an integer");
        }
        return value.intValue();
    }

    public ResizeRule rule() {
        return rule;
    }

    public int height() {
        return height;
    }

    public int width() {
        return width;
    }

    /**
     * The side of a square input.
     *
     * @throws IllegalStateException if the input is not square (use {@link #height} and {@link #width})
     */
    public int size() {
        requireFixedSize();
        if (height != width) {
            throw new IllegalStateException(String.format(Locale.ROOT,
                "the input is [%d x %d], not square: use height() and width()", height, width));
        }
        return height;
    }

    /** Floats of one preprocessed image, {@code 3 x height x width}; inputs of a {@link #variableSize()} model have no one count. */
    public int pixelsPerImage() {
        requireFixedSize();
        return 3 * height * width;
    }

    private void requireFixedSize() {
        if (variableSize()) {
            throw new IllegalStateException("this model's inputs vary in size (shortest_edge without center_crop): use preprocessSized");
        }
    }

    /** Encoded image bytes to float32 CHW {@code [3 * height * width]}. */
    public float[] preprocess(byte[] encoded) throws ImageDecodeException {
        float[] out = new float[pixelsPerImage()];
        preprocessInto(encoded, out, 0);
        return out;
    }

    /**
     * As {@link #preprocess}, writing {@code 3 * height * width} floats at {@code out[offset]} (one
     * slot of a batch). The memory budget holds the image's reservation until the floats are written.
     */
    public void preprocessInto(byte[] encoded, float[] out, int offset) throws ImageDecodeException {
        Objects.checkFromIndexSize(offset, pixelsPerImage(), out.length);
        try (Decoded decoded = decode(encoded)) {
            Rgb rgb = decoded.rgb();
            float[] resized;
            if (shortestEdge == null) {
                resized = rule.resize(rgb, height, width);
            } else {
                int[] size = shortestEdge.outputSize(rgb.height(), rgb.width());
                resized = ShortestEdgeResize.centerCrop(rule.resize(rgb, size[0], size[1]), size[0], size[1], height, width);
            }
            normalize(resized, height * width, mean, std, out, offset);
        }
    }

    /** One preprocessed image at its own size: float32 CHW {@code [3 * height * width]}. */
    public record Pixels(int height, int width, float[] values) {
    }

    /**
     * Encoded image bytes to float32 CHW at the image's own size, for a model whose inputs vary in
     * size ({@link #variableSize()}); for any other model the size is the input size.
     */
    public Pixels preprocessSized(byte[] encoded) throws ImageDecodeException {
        if (variableSize() == false) {
            return new Pixels(height, width, preprocess(encoded));
        }
        try (Decoded decoded = decode(encoded)) {
            Rgb rgb = decoded.rgb();
            int[] size = shortestEdge.outputSize(rgb.height(), rgb.width());
            float[] out = new float[3 * size[0] * size[1]];
            normalize(rule.resize(rgb, size[0], size[1]), size[0] * size[1], mean, std, out, 0);
            return new Pixels(size[0], size[1], out);
        }
    }

    // ------------------------------------------------------------------ decoding

    /** Decoded RGB and the budget's reservation for it and its resize, given back by {@link #close}. */
    private record Decoded(Rgb rgb, MemoryBudget.Reservation reservation) implements AutoCloseable {
        @Override
        public void close() {
            reservation.close();
        }
    }

    /** Decode, guard, convert to RGB and orient, without resizing. */
    Rgb decodeRgb(byte[] encoded) throws ImageDecodeException {
        try (Decoded decoded = decode(encoded)) {
            return decoded.rgb();
        }
    }

    /**
     * Decode, guard, convert to RGB and orient, with the decoding memory reserved from the header
     * before the decoder allocates its raster; on failure the reservation is given back at once.
     * Every decoder failure becomes an {@link ImageDecodeException}, and so does the budget's refusal.
     */
    private Decoded decode(byte[] encoded) throws ImageDecodeException {
        Objects.requireNonNull(encoded, "encoded");
        if (encoded.length == 0) {
            throw new ImageDecodeException(ImageDecodeException.Reason.EMPTY, "image is empty [0] bytes");
        }
        if (encoded.length > limits.maxEncodedBytes()) {
            throw new ImageDecodeException(ImageDecodeException.Reason.TOO_LARGE_ENCODED, String.format(Locale.ROOT,
                "image has [%d] bytes, more than the limit [%d]", encoded.length, limits.maxEncodedBytes()));
        }
        String format = "unknown";
        // PIL ignores embedded ICC profiles; TwelveMonkeys would convert through them.
        byte[] decodable = ImageMetadata.withoutColorProfile(encoded);
        // Memory cache, never a file cache: the bytes are in memory already, and a plugin may not write temp files.
        try (ImageInputStream in = new MemoryCacheImageInputStream(new ByteArrayInputStream(decodable))) {
            ImageReaderSpi spi = readerFor(in, encoded);
            format = spi.getFormatNames()[0];
            if (spi instanceof WebPImageReaderSpi) {
                requireWholeRiff(encoded);
            }
            ImageReader reader = spi.createReaderInstance();
            MemoryBudget.Reservation reservation = null;
            try {
                // Metadata is ignored: orientation is parsed from the bytes by ImageMetadata.
                reader.setInput(in, true, true);
                long width = reader.getWidth(0);
                long height = reader.getHeight(0);
                checkPixels(width, height);
                int orientation = decoding.exifOrientation() ? ImageMetadata.orientation(encoded) : ImageMetadata.NORMAL;
                int step = rule.subsamples() ? subsampleStep(width, height, Math.max(this.height, this.width)) : 1;
                boolean thinAfter = step > 1 && !subsamplesExactly(spi);
                long keptWidth = subsampled(width, step);
                long keptHeight = subsampled(height, step);
                long rasterPixels = thinAfter ? width * height + keptWidth * keptHeight : keptWidth * keptHeight;
                int[] resized = resizedSize(keptHeight, keptWidth, orientation);
                long bytes = decodingBytes(rasterPixels * rasterBytesPerPixel(reader), keptWidth, keptHeight, orientation,
                    resized[0], resized[1], encoded.length);
                if (shortestEdge != null) { // the cropped copy, or the normalised image at its own size
                    bytes += 3L * Float.BYTES * (centerCrop ? (long) this.height * this.width : (long) resized[0] * resized[1]);
                }
                reservation = reserve(bytes, String.format(Locale.ROOT, "decoding a [%s] image of [%d x %d] pixels", format, width, height));
                BufferedImage image = readFirstImage(reader, thinAfter ? 1 : step);
                Rgb rgb = ImageMetadata.orient(toRgb(thinAfter ? keepEvery(image, step) : image, decoding.compositeAlpha()), orientation);
                Decoded decoded = new Decoded(rgb, reservation);
                reservation = null; // the caller gives it back
                return decoded;
            } finally {
                reader.dispose();
                if (reservation != null) {
                    reservation.close();
                }
            }
        } catch (ImageDecodeException e) {
            throw e;
        } catch (IOException | RuntimeException e) {
            // Decoders signal broken data with IIOException, EOFException and, for some
            // malformed headers, runtime exceptions (IndexOutOfBounds, NegativeArraySize...).
            throw new ImageDecodeException(ImageDecodeException.Reason.CORRUPT, String.format(Locale.ROOT,
                "cannot decode [%s] image of [%d] bytes: %s", format, encoded.length, e), e);
        }
    }

    /**
     * The {@code {height, width}} the resize step produces for a decoded image of {@code height x
     * width} before orientation: the input size, or the shortest-edge resize's output (an image it
     * cannot resize fails here, before anything is decoded).
     */
    private int[] resizedSize(long height, long width, int orientation) throws ImageDecodeException {
        if (shortestEdge == null) {
            return new int[] {this.height, this.width};
        }
        boolean swap = ImageMetadata.swapsAxes(orientation);
        return shortestEdge.outputSize(swap ? width : height, swap ? height : width);
    }

    /** The first reader that recognises the stream's signature. */
    private static ImageReaderSpi readerFor(ImageInputStream in, byte[] encoded) throws IOException, ImageDecodeException {
        for (ImageReaderSpi spi : READERS) {
            boolean recognised;
            try {
                recognised = spi.canDecodeInput(in);
            } catch (IOException e) {
                recognised = false; // shorter than this format's signature
            }
            in.seek(0);
            if (recognised) {
                return spi;
            }
        }
        throw new ImageDecodeException(ImageDecodeException.Reason.UNSUPPORTED_FORMAT, String.format(Locale.ROOT,
            "image format not recognised (JPEG, PNG, GIF, BMP and WebP are), first bytes [%s]",
            HexFormat.ofDelimiter(" ").formatHex(encoded, 0, Math.min(encoded.length, SIGNATURE_BYTES_SHOWN))));
    }

    /**
     * A WebP file's RIFF header says how long the file is. TwelveMonkeys' lossless decoder does
     * not notice when its bit stream runs out (it decodes the missing part as zeros), so a
     * truncated file is caught here instead.
     */
    private static void requireWholeRiff(byte[] encoded) throws IIOException {
        long declared = 8 + ((encoded[4] & 0xFFL) | (encoded[5] & 0xFFL) << 8 | (encoded[6] & 0xFFL) << 16 | (encoded[7] & 0xFFL) << 24);
        if (declared > encoded.length) {
            throw new IIOException(String.format(Locale.ROOT,
                "truncated: the RIFF header declares [%d] bytes, the file has [%d]", declared, encoded.length));
        }
    }

    /** The header's pixel count against the limit: a tiny file can declare 30000 x 30000 pixels. */
    private void checkPixels(long width, long height) throws ImageDecodeException {
        if (width * height > limits.maxPixels()) {
            throw new ImageDecodeException(ImageDecodeException.Reason.TOO_MANY_PIXELS, String.format(Locale.ROOT,
                "image has [%d x %d] = [%d] pixels, more than the limit [%d]", width, height, width * height, limits.maxPixels()));
        }
    }

    /**
     * {@code data.subsample_step} for our own resize rule: the decoding stride for an image going
     * to a {@code size x size} input (the larger side of a non-square one), the largest {@code s}
     * with {@code min(width, height) / s >= SUBSAMPLE_FACTOR * size}, at least 1. The decoder then
     * keeps the pixels at {@code (s * i, s * j)} of the image as stored, before the EXIF
     * orientation: for a 384 model a 6,000 x 4,000 photo is decoded as 3,000 x 2,000 (a quarter
     * of the pixels), a 640 x 480 one whole. The {@code pil_*} rules decode every pixel
     * ({@link ResizeRule}).
     */
    static int subsampleStep(long width, long height, int size) {
        return (int) Math.max(1, Math.min(width, height) / ((long) SUBSAMPLE_FACTOR * size));
    }

    /** Pixels along an axis of {@code length} kept with stride {@code step} (those at 0, step, 2 * step, ...). */
    private static long subsampled(long length, int step) {
        return (length + step - 1) / step;
    }

    /**
     * Whether the reader's own source subsampling keeps exactly the pixels a whole decode has at
     * {@code (s * i, s * j)}: checked against whole decodes at steps 2, 3 and 5 for every format
     * and flavour here. TwelveMonkeys' lossy WebP (VP8) decoder keeps other pixels at steps 3
     * and 5, so WebP is decoded whole and thinned by {@link #keepEvery} (no memory saved there).
     */
    private static boolean subsamplesExactly(ImageReaderSpi spi) {
        return !(spi instanceof WebPImageReaderSpi);
    }

    /** The pixels of {@code image} at {@code (step * i, step * j)}, in the same colour model. */
    private static BufferedImage keepEvery(BufferedImage image, int step) {
        WritableRaster source = image.getRaster();
        WritableRaster kept = source.createCompatibleWritableRaster(
            (int) subsampled(image.getWidth(), step), (int) subsampled(image.getHeight(), step));
        Object pixel = null;
        for (int y = 0; y < kept.getHeight(); y++) {
            for (int x = 0; x < kept.getWidth(); x++) {
                pixel = source.getDataElements(x * step, y * step, pixel);
                kept.setDataElements(x, y, pixel);
            }
        }
        return new BufferedImage(image.getColorModel(), kept, image.isAlphaPremultiplied(), null);
    }

    /**
     * The heap that decoding an image and resizing it to {@code size} holds, all counted as live
     * at once (an upper bound of the peak): the encoded bytes twice (the copy without a colour
     * profile, the input stream's cache), the decoder's rasters, the 8-bit RGB copy of the
     * {@code width x height} pixels kept, the oriented copy when the EXIF orientation moves
     * pixels, and the two float passes of {@link #resizeBilinear} (more than the two 8-bit
     * passes and the float copy of {@link PilResample}). The decoders' own transient
     * buffers (rows, JPEG and WebP working state) are not counted: they are a few rows, not a
     * whole image.
     *
     * @param rasterBytes the decoder's raster (8 bytes a pixel for 16-bit RGBA), plus the thinned
     *                    copy where the image is decoded whole and then subsampled
     */
    static long decodingBytes(long rasterBytes, long width, long height, int orientation, int outHeight, int outWidth,
                              long encodedBytes) {
        long pixels = width * height;
        long rgbCopies = ImageMetadata.movesPixels(orientation) ? 2 : 1;
        long resizedHeight = ImageMetadata.swapsAxes(orientation) ? width : height;
        long resize = (resizedHeight * outWidth + (long) outHeight * outWidth) * 3 * Float.BYTES;
        return 2 * encodedBytes + rasterBytes + rgbCopies * pixels * 3 + resize;
    }

    /**
     * Bytes per pixel of the raster the reader decodes into: the larger of its raw type and the
     * type it returns (a CMYK JPEG is decoded as CMYK, then converted). Packed types of less than
     * a byte count as one byte; a reader that names no type is assumed to use 4 bytes (ARGB).
     */
    private static int rasterBytesPerPixel(ImageReader reader) throws IOException {
        int bytes = bytesPerPixel(reader.getRawImageType(0));
        Iterator<ImageTypeSpecifier> types = reader.getImageTypes(0);
        if (types.hasNext()) {
            bytes = Math.max(bytes, bytesPerPixel(types.next()));
        }
        return bytes > 0 ? bytes : Integer.BYTES;
    }

    private static int bytesPerPixel(ImageTypeSpecifier type) {
        if (type == null) {
            return 0;
        }
        SampleModel model = type.getSampleModel(1, 1);
        return DataBuffer.getDataTypeSize(model.getDataType()) / Byte.SIZE * model.getNumDataElements();
    }

    /** The budget's reservation, or its refusal as an {@link ImageDecodeException} whose cause is the budget's own exception. */
    private MemoryBudget.Reservation reserve(long bytes, String what) throws ImageDecodeException {
        try {
            return budget.reserve(bytes, what);
        } catch (RuntimeException e) {
            throw new ImageDecodeException(ImageDecodeException.Reason.OVER_MEMORY_BUDGET, String.format(Locale.ROOT,
                "%s needs [%d] bytes, more than the memory budget allows: %s", what, bytes, e.getMessage()), e);
        }
    }

    /**
     * Image 0 only (a GIF's first frame), every {@code step}-th pixel of every {@code step}-th
     * row from the top left. A warning that the data ran out is a failure: for a truncated JPEG
     * the JDK decoder only warns and fills the rest with gray, and an index must not hold half an image.
     */
    private static BufferedImage readFirstImage(ImageReader reader, int step) throws IOException {
        List<String> truncation = new ArrayList<>();
        reader.addIIOReadWarningListener((source, warning) -> {
            if (meansTruncated(warning)) {
                truncation.add(warning);
            }
        });
        ImageReadParam param = reader.getDefaultReadParam();
        param.setSourceSubsampling(step, step, 0, 0);
        BufferedImage image = reader.read(0, param);
        if (!truncation.isEmpty()) {
            throw new IIOException("truncated: the decoder warned " + truncation);
        }
        return image;
    }

    /**
     * Warnings that the decoder ran out of data and filled the rest of the image: the JDK JPEG
     * reader's "Truncated File - Missing EOI marker", libjpeg's "Premature end of JPEG file" and
     * "Corrupt JPEG data: premature end of data segment". PIL raises "image file is truncated"
     * there. Other warnings (TwelveMonkeys' note on a CMYK JPEG without a profile, libjpeg's
     * "extraneous bytes before marker") are informational, as they are to PIL.
     */
    private static boolean meansTruncated(String warning) {
        String lower = warning.toLowerCase(Locale.ROOT);
        return lower.contains("truncated") || lower.contains("premature end");
    }

    // ------------------------------------------------------------------ to 8-bit RGB

    /**
     * The decoded image as PIL's {@code load_rgb} would give it. Raster samples are read
     * directly wherever the colour model allows: {@link BufferedImage#getRGB} would convert
     * gray through a linear colour space (changing every value) and 16-bit samples with
     * rounding, where PIL keeps the stored 8-bit values and the high byte.
     */
    private static Rgb toRgb(BufferedImage image, boolean composite) {
        ColorModel cm = image.getColorModel();
        if (cm instanceof IndexColorModel palette) {
            return fromPalette(image.getRaster(), palette, composite);
        }
        if (hasPlainSamples(cm)) {
            boolean gray = cm.getNumColorComponents() == 1;
            // PIL opens 16-bit gray without alpha as mode I;16, whose convert("RGB") clips at 255;
            // every other 16-bit image it opens keeping the high byte (as our own rule always does).
            boolean clip = !composite && gray && !cm.hasAlpha() && cm.getComponentSize(0) == 16;
            return fromSamples(image.getRaster(), cm.getComponentSize(0), gray, cm.hasAlpha() && composite, clip);
        }
        return fromArgb(image, composite);
    }

    /** Gray or RGB (plus alpha), not premultiplied, every component 8 or 16 bits: samples usable as stored. */
    private static boolean hasPlainSamples(ColorModel cm) {
        if (!(cm instanceof ComponentColorModel || cm instanceof DirectColorModel) || cm.isAlphaPremultiplied()) {
            return false;
        }
        int space = cm.getColorSpace().getType();
        if (space != ColorSpace.TYPE_RGB && space != ColorSpace.TYPE_GRAY) {
            return false;
        }
        int transfer = cm.getTransferType();
        if (transfer != DataBuffer.TYPE_BYTE && transfer != DataBuffer.TYPE_USHORT && transfer != DataBuffer.TYPE_INT) {
            return false;
        }
        int bits = cm.getComponentSize(0);
        for (int bandBits : cm.getComponentSize()) {
            if (bandBits != bits) {
                return false;
            }
        }
        return bits == 8 || bits == 16;
    }

    /**
     * Samples of 8 or 16 bits, colour bands first and alpha last (both colour models order them so);
     * {@code clip}: 16-bit gray as {@code min(v, 255)} rather than its high byte.
     */
    private static Rgb fromSamples(Raster raster, int bits, boolean gray, boolean alpha, boolean clip) {
        int width = raster.getWidth();
        int height = raster.getHeight();
        int bands = raster.getNumBands();
        int shift = bits - 8; // PIL keeps the high byte of 16-bit samples
        int[] row = new int[width * bands];
        byte[] out = new byte[Math.multiplyExact(width * 3, height)];
        int o = 0;
        for (int y = 0; y < height; y++) {
            raster.getPixels(0, y, width, 1, row);
            for (int i = 0; i < row.length; i += bands, o += 3) {
                int a = alpha ? row[i + bands - 1] >> shift : 255;
                int r = clip ? Math.min(row[i], 255) : row[i] >> shift;
                int g = gray ? r : row[i + 1] >> shift;
                int b = gray ? r : row[i + 2] >> shift;
                out[o] = (byte) overWhite(r, a);
                out[o + 1] = (byte) overWhite(g, a);
                out[o + 2] = (byte) overWhite(b, a);
            }
        }
        return new Rgb(width, height, out);
    }

    /**
     * Palette images (PNG palette or 1/2/4-bit gray, GIF, BMP): each entry composited once.
     * PIL composites only when there is a tRNS/transparency entry, but without one every palette
     * alpha is 255 and compositing is the identity.
     */
    private static Rgb fromPalette(Raster raster, IndexColorModel palette, boolean composite) {
        int[] colours = new int[palette.getMapSize()];
        for (int i = 0; i < colours.length; i++) {
            colours[i] = composite ? overWhite(palette.getRGB(i)) : palette.getRGB(i) & 0xFFFFFF;
        }
        int width = raster.getWidth();
        int height = raster.getHeight();
        int[] row = new int[width];
        byte[] out = new byte[Math.multiplyExact(width * 3, height)];
        int o = 0;
        for (int y = 0; y < height; y++) {
            raster.getSamples(0, y, width, 1, 0, row);
            for (int x = 0; x < width; x++, o += 3) {
                int rgb = row[x] < colours.length ? colours[row[x]] : 0; // out-of-palette index: black
                out[o] = (byte) (rgb >> 16);
                out[o + 1] = (byte) (rgb >> 8);
                out[o + 2] = (byte) rgb;
            }
        }
        return new Rgb(width, height, out);
    }

    /** Anything else (a CMYK JPEG converted by TwelveMonkeys, 5-6-5 BMP, ...): sRGB via the colour model. */
    private static Rgb fromArgb(BufferedImage image, boolean composite) {
        int width = image.getWidth();
        int height = image.getHeight();
        int[] row = new int[width];
        byte[] out = new byte[Math.multiplyExact(width * 3, height)];
        int o = 0;
        for (int y = 0; y < height; y++) {
            image.getRGB(0, y, width, 1, row, 0, width);
            for (int x = 0; x < width; x++, o += 3) {
                int rgb = composite ? overWhite(row[x]) : row[x] & 0xFFFFFF;
                out[o] = (byte) (rgb >> 16);
                out[o + 1] = (byte) (rgb >> 8);
                out[o + 2] = (byte) rgb;
            }
        }
        return new Rgb(width, height, out);
    }

    /** {@code data._composite_over_white} on one channel: integer, rounding half up; the identity when {@code a == 255}. */
    static int overWhite(int c, int a) {
        return (c * a + 255 * (255 - a) + 127) / 255;
    }

    /** A non-premultiplied ARGB pixel composited over white, as 0xRRGGBB. */
    private static int overWhite(int argb) {
        int a = argb >>> 24;
        return overWhite(argb >> 16 & 0xFF, a) << 16 | overWhite(argb >> 8 & 0xFF, a) << 8 | overWhite(argb & 0xFF, a);
    }

    // ------------------------------------------------------------------ resize and normalise

    /** One axis of {@code data._axis_weights}: source indices and weights, all float32 arithmetic. */
    private record AxisWeights(int[] x0, int[] x1, float[] t) {
        static AxisWeights of(int in, int out) {
            float scale = (float) in / (float) out;
            float last = in - 1;
            int[] x0 = new int[out];
            int[] x1 = new int[out];
            float[] t = new float[out];
            for (int x = 0; x < out; x++) {
                float src = ((float) x + 0.5f) * scale - 0.5f;
                src = Math.min(Math.max(src, 0f), last); // np.clip: maximum, then minimum
                x0[x] = (int) Math.floor(src);
                x1[x] = Math.min(x0[x] + 1, in - 1);
                t[x] = src - (float) x0[x];
            }
            return new AxisWeights(x0, x1, t);
        }
    }

    /**
     * {@code data.resize_bilinear}: HWC floats 0..255 of {@code outHeight x outWidth}. Horizontal
     * pass, then vertical, each output one float multiply-multiply-add without fusing, in numpy's
     * order, so the result is bit-identical to Python's (which has square outputs only).
     */
    static float[] resizeBilinear(Rgb rgb, int outHeight, int outWidth) {
        int width = rgb.width();
        int height = rgb.height();
        byte[] v = rgb.pixels();
        AxisWeights xs = AxisWeights.of(width, outWidth);
        float[] rows = new float[Math.multiplyExact(height, outWidth * 3)];
        for (int y = 0; y < height; y++) {
            for (int x = 0; x < outWidth; x++) {
                int i0 = (y * width + xs.x0()[x]) * 3;
                int i1 = (y * width + xs.x1()[x]) * 3;
                float t = xs.t()[x];
                float u = 1f - t;
                int o = (y * outWidth + x) * 3;
                for (int c = 0; c < 3; c++) {
                    rows[o + c] = (float) (v[i0 + c] & 0xFF) * u + (float) (v[i1 + c] & 0xFF) * t;
                }
            }
        }
        AxisWeights ys = AxisWeights.of(height, outHeight);
        int rowFloats = outWidth * 3;
        float[] out = new float[outHeight * rowFloats];
        for (int y = 0; y < outHeight; y++) {
            int r0 = ys.x0()[y] * rowFloats;
            int r1 = ys.x1()[y] * rowFloats;
            float t = ys.t()[y];
            float u = 1f - t;
            int o = y * rowFloats;
            for (int i = 0; i < rowFloats; i++) {
                out[o + i] = rows[r0 + i] * u + rows[r1 + i] * t;
            }
        }
        return out;
    }

    /**
     * {@code data.normalize}: {@code (v / 255 - mean[c]) / std[c]}, {@code plane} HWC pixels in,
     * CHW out at {@code out[offset]}.
     */
    static void normalize(float[] resized, int plane, float[] mean, float[] std, float[] out, int offset) {
        for (int p = 0; p < plane; p++) {
            for (int c = 0; c < 3; c++) {
                out[offset + c * plane + p] = (resized[p * 3 + c] / 255f - mean[c]) / std[c];
            }
        }
    }

    // ------------------------------------------------------------------ manifest and readers

    private static void requireText(JsonNode image, String field, String expected) {
        JsonNode value = image.path(field);
        if (!value.isTextual() || !value.textValue().equals(expected)) {
            throw badField(field, value, expected);
        }
    }

    /** Three numbers, each rounded to float32 as numpy's {@code asarray(..., dtype=float32)} does. */
    private static float[] floats(JsonNode image, String field) {
        JsonNode values = image.path(field);
        if (!values.isArray() || values.size() != 3) {
            throw badField(field, values, "3 numbers");
        }
        float[] out = new float[3];
        for (int i = 0; i < 3; i++) {
            if (!values.get(i).isNumber()) {
                throw badField(field, values, "3 numbers");
            }
            out[i] = (float) values.get(i).doubleValue();
        }
        return out;
    }

    private static IllegalArgumentException badField(String field, JsonNode value, String expected) {
        String shown = value.isMissingNode() ? "missing" : value.toString();
        return new IllegalArgumentException(String.format(Locale.ROOT,
            "manifest field [image.%s] is [%s], this encoder implements [%s]", field, shown, expected));
    }

    /**
     * TwelveMonkeys' JPEG reader delegates baseline decoding to the JDK's reader, which its SPI
     * looks up when registered; created directly it is not registered, so it is given the
     * default registry (where the JDK's reader always is) to look in. That does not register it
     * anywhere. Probing once here makes a missing delegate fail at class initialisation.
     */
    private static ImageReaderSpi twelveMonkeysJpeg() {
        JPEGImageReaderSpi spi = new JPEGImageReaderSpi();
        spi.onRegistration(IIORegistry.getDefaultInstance(), ImageReaderSpi.class);
        try {
            spi.createReaderInstance().dispose();
        } catch (IOException | RuntimeException e) {
            throw new IllegalStateException("TwelveMonkeys JPEG reader has no JDK delegate reader", e);
        }
        return spi;
    }

    /** The JDK's own reader for {@code format} (module java.desktop), never one a library registered. */
    private static ImageReaderSpi jdkReader(String format) {
        Iterator<ImageReaderSpi> all = IIORegistry.getDefaultInstance().getServiceProviders(ImageReaderSpi.class, false);
        while (all.hasNext()) {
            ImageReaderSpi spi = all.next();
            if (spi.getClass().getModule() == ImageIO.class.getModule()
                && Arrays.stream(spi.getFormatNames()).anyMatch(format::equalsIgnoreCase)) {
                return spi;
            }
        }
        throw new IllegalStateException("the JDK has no ImageIO reader for [" + format + "]");
    }
}
