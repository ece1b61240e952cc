package io.fuserank.encoder;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What the Python pipeline's PIL reads from an image's metadata, and what it ignores.
 *
 * <p><b>Orientation.</b> PIL's {@code ImageOps.exif_transpose} (phones store JPEGs sideways and
 * set the EXIF tag). Where PIL looks: a JPEG's APP1 {@code Exif} segments (concatenated, as PIL
 * does) before the first scan, a PNG's {@code eXIf} chunk (the last one), a WebP's {@code EXIF}
 * chunk (the first one). IFD0 tag 0x0112 wins; without that tag PIL falls back to
 * {@code tiff:Orientation} in the XMP packet (JPEG APP1 {@code http://ns.adobe.com/xap/1.0/},
 * WebP {@code XMP } chunk), and so does this class. Not read, unlike PIL: EXIF or XMP stored in
 * PNG text chunks (ImageMagick's {@code Raw profile type exif}, {@code XML:com.adobe.xmp}), which
 * are rare. The parser reads only the TIFF header and IFD0 with bounds checks: a broken or
 * truncated block means orientation {@link #NORMAL}, never an error (PIL would raise on some of
 * them; an indexer is better served by an unrotated image than by a reject).
 *
 * <p><b>Colour profiles.</b> PIL keeps the stored samples whatever ICC profile is embedded, but
 * TwelveMonkeys' JPEG and WebP readers convert to sRGB through it (an iPhone's Display P3 photo
 * would come out tens of levels off). {@link #withoutColorProfile} hides the profile from them.
 */
final class ImageMetadata {

    /** Orientation 1: stored as displayed. */
    static final int NORMAL = 1;

    private static final int TAG_ORIENTATION = 0x0112;
    private static final int TYPE_BYTE = 1;
    private static final int TYPE_SHORT = 3;
    private static final int TYPE_LONG = 4;
    /** An orientation tag PIL cannot use (wrong type or count): present, so XMP is not consulted, but no transpose. */
    private static final int UNUSABLE = 0;

    private static final byte[] JPEG_SOI = {(byte) 0xFF, (byte) 0xD8};
    private static final byte[] PNG_SIGNATURE = {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    private static final byte[] EXIF_HEADER = ascii("Exif\0\0");
    private static final byte[] XMP_HEADER = ascii("http://ns.adobe.com/xap/1.0/\0");
    private static final byte[] ICC_HEADER = ascii("ICC_PROFILE\0");
    private static final int APP1 = 0xE1;
    private static final int APP2 = 0xE2;
    /** The ICC flag of a WebP VP8X chunk's flags byte (at file offset 20). */
    private static final int VP8X_FLAGS = 20;
    private static final int VP8X_ICC = 0x20;
    /** PIL's own pattern ({@code Image.getexif}); it takes the first match. */
    private static final Pattern XMP_ORIENTATION = Pattern.compile("tiff:Orientation(=\"|>)([0-9])");

    /**
     * For each orientation 1..8, where output pixel (x, y) comes from in the source image of
     * width w and height h: {@code sx = a + b*x + c*y}, {@code sy = d + e*x + f*y}, with
     * {@code a} and {@code d} given as multiples of (w - 1) and (h - 1). PIL's transposes:
     * 2 FLIP_LEFT_RIGHT, 3 ROTATE_180, 4 FLIP_TOP_BOTTOM, 5 TRANSPOSE, 6 ROTATE_270 (clockwise),
     * 7 TRANSVERSE, 8 ROTATE_90 (counter-clockwise); 5 to 8 swap width and height.
     */
    private static final int[][] SOURCE_OF = {
        //  a   b   c   d   e   f
        {0, 1, 0, 0, 0, 1},   // 1 identity
        {1, -1, 0, 0, 0, 1},  // 2 FLIP_LEFT_RIGHT
        {1, -1, 0, 1, 0, -1}, // 3 ROTATE_180
        {0, 1, 0, 1, 0, -1},  // 4 FLIP_TOP_BOTTOM
        {0, 0, 1, 0, 1, 0},   // 5 TRANSPOSE
        {0, 0, 1, 1, -1, 0},  // 6 ROTATE_270
        {1, 0, -1, 1, -1, 0}, // 7 TRANSVERSE
        {1, 0, -1, 0, 1, 0},  // 8 ROTATE_90
    };

    private record Metadata(byte[] exif, byte[] xmp) {
        static final Metadata NONE = new Metadata(null, null);
    }

    /** A JPEG marker segment: {@code marker} (0xE1 for APP1...), its payload {@code b[payload, end)}. */
    private record Segment(int marker, int payload, int end) {
    }

    private ImageMetadata() {
    }

    /** The orientation the image asks for: 1..8 as stored, {@link #NORMAL} when absent or unreadable, 0 or 9 when PIL would not transpose. */
    static int orientation(byte[] encoded) {
        Metadata metadata = metadata(encoded);
        if (metadata.exif() != null) {
            int fromExif = exifOrientation(metadata.exif());
            if (fromExif >= 0) {
                return fromExif;
            }
        }
        return metadata.xmp() == null ? NORMAL : xmpOrientation(metadata.xmp());
    }

    /** Whether {@link #orient} copies the pixels for {@code orientation}: 2..8; 1 and the values PIL ignores leave them. */
    static boolean movesPixels(int orientation) {
        return orientation > NORMAL && orientation <= SOURCE_OF.length;
    }

    /** Whether {@code orientation} exchanges width and height (the transposing ones, 5..8). */
    static boolean swapsAxes(int orientation) {
        return movesPixels(orientation) && orientation >= 5;
    }

    /** {@code rgb} transposed for {@code orientation}; the same object for 1 or a value PIL ignores. */
    static ImagePreprocessor.Rgb orient(ImagePreprocessor.Rgb rgb, int orientation) {
        if (!movesPixels(orientation)) {
            return rgb;
        }
        int[] s = SOURCE_OF[orientation - 1];
        int w = rgb.width();
        int h = rgb.height();
        boolean swaps = swapsAxes(orientation);
        int outWidth = swaps ? h : w;
        int outHeight = swaps ? w : h;
        // The source pixel index sy * w + sx is affine in (x, y): a start and two strides.
        long start = (long) s[3] * (h - 1) * w + (long) s[0] * (w - 1);
        int strideX = s[4] * w + s[1];
        int strideY = s[5] * w + s[2];
        byte[] in = rgb.pixels();
        byte[] out = new byte[in.length];
        int o = 0;
        for (int y = 0; y < outHeight; y++) {
            long p = start + (long) y * strideY;
            for (int x = 0; x < outWidth; x++, p += strideX, o += 3) {
                int i = (int) p * 3;
                out[o] = in[i];
                out[o + 1] = in[i + 1];
                out[o + 2] = in[i + 2];
            }
        }
        return new ImagePreprocessor.Rgb(outWidth, outHeight, out);
    }

    /**
     * {@code encoded}, or a copy in which an embedded ICC profile is no longer recognisable:
     * JPEG APP2 {@code ICC_PROFILE} segments get another identifier (libjpeg skips unknown APP
     * segments), a WebP's VP8X chunk loses its ICC flag (TwelveMonkeys then never reads the
     * ICCP chunk). Same length, so no offset in the file moves. PNG needs nothing: the JDK
     * reader does not convert.
     */
    static byte[] withoutColorProfile(byte[] encoded) {
        byte[] out = encoded;
        if (startsWith(encoded, 0, encoded.length, JPEG_SOI)) {
            for (Segment s : jpegSegments(encoded)) {
                if (s.marker() == APP2 && startsWith(encoded, s.payload(), s.end(), ICC_HEADER)) {
                    out = out == encoded ? encoded.clone() : out;
                    out[s.payload()] = 'X';
                }
            }
        } else if (isWebp(encoded) && encoded.length > VP8X_FLAGS && isFourCc(encoded, 12, "VP8X")
            && (encoded[VP8X_FLAGS] & VP8X_ICC) != 0) {
            out = encoded.clone();
            out[VP8X_FLAGS] &= (byte) ~VP8X_ICC;
        }
        return out;
    }

    // ------------------------------------------------------------------ containers

    private static Metadata metadata(byte[] b) {
        if (startsWith(b, 0, b.length, JPEG_SOI)) {
            return jpeg(b);
        }
        if (startsWith(b, 0, b.length, PNG_SIGNATURE)) {
            return png(b);
        }
        return isWebp(b) ? webp(b) : Metadata.NONE;
    }

    private static boolean isWebp(byte[] b) {
        return b.length >= 12 && isFourCc(b, 0, "RIFF") && isFourCc(b, 8, "WEBP");
    }

    /** APP1 segments, as PIL's JpegImagePlugin reads them: EXIF concatenated, the last XMP. */
    private static Metadata jpeg(byte[] b) {
        ByteArrayOutputStream exif = null;
        byte[] xmp = null;
        for (Segment s : jpegSegments(b)) {
            if (s.marker() == APP1 && startsWith(b, s.payload(), s.end(), EXIF_HEADER)) {
                if (exif == null) {
                    exif = new ByteArrayOutputStream();
                }
                exif.write(b, s.payload() + EXIF_HEADER.length, s.end() - s.payload() - EXIF_HEADER.length);
            } else if (s.marker() == APP1 && startsWith(b, s.payload(), s.end(), XMP_HEADER)) {
                xmp = Arrays.copyOfRange(b, s.payload() + XMP_HEADER.length, s.end());
            }
        }
        return new Metadata(exif == null ? null : exif.toByteArray(), xmp);
    }

    /** The marker segments with a length before the first scan (metadata never comes after it); stops at anything malformed. */
    private static List<Segment> jpegSegments(byte[] b) {
        List<Segment> segments = new ArrayList<>();
        int pos = JPEG_SOI.length;
        while (pos + 4 <= b.length && (b[pos] & 0xFF) == 0xFF) {
            int marker = b[pos + 1] & 0xFF;
            if (marker == 0xFF) { // fill byte before a marker
                pos++;
                continue;
            }
            if (marker == 0xDA || marker == 0xD9) { // start of scan, end of image
                break;
            }
            if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD8)) { // markers without a length
                pos += 2;
                continue;
            }
            int end = pos + 2 + u16(b, pos + 2, false);
            if (end < pos + 4 || end > b.length) {
                break;
            }
            segments.add(new Segment(marker, pos + 4, end));
            pos = end;
        }
        return segments;
    }

    /** Chunks up to IEND; PIL keeps the last {@code eXIf}. */
    private static Metadata png(byte[] b) {
        byte[] exif = null;
        int pos = PNG_SIGNATURE.length;
        while (pos + 12 <= b.length) {
            long length = u32(b, pos, false);
            if (length > b.length - pos - 12) {
                break;
            }
            if (isFourCc(b, pos + 4, "eXIf")) {
                exif = Arrays.copyOfRange(b, pos + 8, pos + 8 + (int) length);
            } else if (isFourCc(b, pos + 4, "IEND")) {
                break;
            }
            pos += 12 + (int) length;
        }
        return new Metadata(exif, null);
    }

    /** RIFF chunks (padded to even sizes); libwebp's demuxer, which PIL uses, gives the first of each kind. */
    private static Metadata webp(byte[] b) {
        byte[] exif = null;
        byte[] xmp = null;
        int pos = 12;
        while (pos + 8 <= b.length) {
            long length = u32(b, pos + 4, true);
            if (length > b.length - pos - 8) {
                break;
            }
            int payload = pos + 8;
            if (exif == null && isFourCc(b, pos, "EXIF")) {
                exif = Arrays.copyOfRange(b, payload, payload + (int) length);
            } else if (xmp == null && isFourCc(b, pos, "XMP ")) {
                xmp = Arrays.copyOfRange(b, payload, payload + (int) length);
            }
            pos = payload + (int) length + (int) (length & 1);
        }
        return new Metadata(exif, xmp);
    }

    // ------------------------------------------------------------------ EXIF and XMP

    /**
     * Tag 0x0112 of IFD0 in a TIFF-structured EXIF block (leading {@code Exif\0\0} headers
     * skipped, as PIL does): its value, {@link #UNUSABLE} if present with a type or count PIL
     * would not turn into one integer, -1 if absent or the block is unreadable. The last of
     * duplicate entries wins, as in PIL's dictionary.
     */
    private static int exifOrientation(byte[] exif) {
        int base = 0;
        while (startsWith(exif, base, exif.length, EXIF_HEADER)) {
            base += EXIF_HEADER.length;
        }
        if (exif.length - base < 8) {
            return -1;
        }
        boolean little;
        if (exif[base] == 'I' && exif[base + 1] == 'I') {
            little = true;
        } else if (exif[base] == 'M' && exif[base + 1] == 'M') {
            little = false;
        } else {
            return -1;
        }
        if (u16(exif, base + 2, little) != 42) { // not classic TIFF (BigTIFF is never used for EXIF)
            return -1;
        }
        long ifd = base + u32(exif, base + 4, little);
        if (ifd + 2 > exif.length) {
            return -1;
        }
        int entries = u16(exif, (int) ifd, little);
        int found = -1;
        for (int i = 0; i < entries; i++) {
            int entry = (int) ifd + 2 + 12 * i;
            if (entry + 12 > exif.length) { // truncated IFD: keep what was read, as PIL does
                break;
            }
            if (u16(exif, entry, little) == TAG_ORIENTATION) {
                found = inlineInteger(exif, entry, little);
            }
        }
        return found;
    }

    /** A one-value BYTE, SHORT or LONG entry's value (stored in the entry itself); {@link #UNUSABLE} otherwise. */
    private static int inlineInteger(byte[] exif, int entry, boolean little) {
        int type = u16(exif, entry + 2, little);
        if (u32(exif, entry + 4, little) != 1) {
            return UNUSABLE;
        }
        return switch (type) {
            case TYPE_BYTE -> exif[entry + 8] & 0xFF;
            case TYPE_SHORT -> u16(exif, entry + 8, little);
            case TYPE_LONG -> (int) Math.min(u32(exif, entry + 8, little), Integer.MAX_VALUE);
            default -> UNUSABLE;
        };
    }

    private static int xmpOrientation(byte[] xmp) {
        Matcher m = XMP_ORIENTATION.matcher(new String(xmp, StandardCharsets.ISO_8859_1));
        return m.find() ? m.group(2).charAt(0) - '0' : NORMAL;
    }

    // ------------------------------------------------------------------ bytes

    private static byte[] ascii(String s) {
        return s.getBytes(StandardCharsets.ISO_8859_1);
    }

    /** Whether {@code b[from, end)} starts with {@code prefix}. */
    private static boolean startsWith(byte[] b, int from, int end, byte[] prefix) {
        return end - from >= prefix.length && Arrays.equals(b, from, from + prefix.length, prefix, 0, prefix.length);
    }

    private static boolean isFourCc(byte[] b, int at, String fourCc) {
        return startsWith(b, at, b.length, ascii(fourCc));
    }

    private static int u16(byte[] b, int at, boolean little) {
        int b0 = b[at] & 0xFF;
        int b1 = b[at + 1] & 0xFF;
        return little ? b0 | b1 << 8 : b0 << 8 | b1;
    }

    private static long u32(byte[] b, int at, boolean little) {
        long lo = u16(b, at + (little ? 0 : 2), little);
        long hi = u16(b, at + (little ? 2 : 0), little);
        return hi << 16 | lo;
    }
}
