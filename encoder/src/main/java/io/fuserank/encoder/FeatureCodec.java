package io.fuserank.encoder;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Locale;

/**
 * Token features as the compact blob stored in a {@code binary} doc-values field, and back.
 *
 * <p>Layout, little-endian: a 10-byte header, then the values.
 * <pre>
 *   0  2 bytes  magic "FR"
 *   2  1 byte   format version (1)
 *   3  1 byte   codec: 0 fp32, 1 fp16, 2 int8
 *   4  1 byte   layers
 *   5  1 byte   reserved (0)
 *   6  2 bytes  tokens per layer (unsigned)
 *   8  2 bytes  width (unsigned)
 *  10  values, [layers, tokens, width] row-major:
 *        fp32: 4 bytes each; fp16: IEEE half, 2 bytes each;
 *        int8: per token row, a float32 scale then {@code width} signed bytes,
 *              value = q * scale with scale = max|v| / 127 (symmetric, per token).
 * </pre>
 * A 65-token, 192-wide image costs 49,930 bytes in fp32, 24,970 in fp16 and 12,750 in int8.
 * Per-token scales keep int8 accurate although token norms differ a lot between [CLS] and
 * patches.
 *
 * <p>A stored blob is untrusted input: its header is checked (in long arithmetic, so no claimed
 * shape can overflow) against its length and against the layout the caller expects before anything
 * is allocated for its values, and decoding rejects non-finite values (fp32/fp16 NaN or infinity,
 * an int8 scale that is not finite or negative). Every such failure is an
 * {@link IllegalArgumentException} naming what is wrong, so a blob written by another model, or
 * damaged, is an error, never silently wrong scores. Encoding rejects values it could not decode.
 */
public enum FeatureCodec {
    FP32(0, "fp32"),
    FP16(1, "fp16"),
    INT8(2, "int8");

    public static final int HEADER_BYTES = 10;
    public static final int FORMAT_VERSION = 1;
    private static final byte MAGIC_0 = 'F';
    private static final byte MAGIC_1 = 'R';
    /** The smallest magnitude that IEEE half precision rounds to infinity (its largest finite value is 65504). */
    private static final float FP16_OVERFLOW = 65520f;

    private final int id;
    private final String label;

    FeatureCodec(int id, String label) {
        this.id = id;
        this.label = label;
    }

    /** The manifest / option name: {@code fp32}, {@code fp16} or {@code int8}. */
    public String label() {
        return label;
    }

    public static FeatureCodec fromLabel(String label) {
        for (FeatureCodec codec : values()) {
            if (codec.label.equals(label)) {
                return codec;
            }
        }
        throw new IllegalArgumentException("unknown feature codec [" + label + "], valid: [fp32, fp16, int8]");
    }

    /** Blob size for features of this shape; a long, so that no header's claim can overflow it. */
    public long encodedBytes(int layers, int tokens, int width) {
        long rows = (long) layers * tokens;
        long body = switch (this) {
            case FP32 -> rows * width * 4;
            case FP16 -> rows * width * 2;
            case INT8 -> rows * (4 + width);
        };
        return HEADER_BYTES + body;
    }

    /** The blob of {@code features}; every value must be finite and, for fp16, within its range. */
    public byte[] encode(TokenFeatures features) {
        if (features.layers() > 255 || features.tokens() > 65535 || features.width() > 65535) {
            throw new IllegalArgumentException(String.format(Locale.ROOT,
                "token features [%d x %d x %d] exceed the blob header's limits [255 x 65535 x 65535]",
                features.layers(), features.tokens(), features.width()));
        }
        long size = encodedBytes(features.layers(), features.tokens(), features.width());
        if (size > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException(String.format(Locale.ROOT, "token features [%d x %d x %d] need [%d] bytes as %s, "
                + "more than one blob can hold", features.layers(), features.tokens(), features.width(), size, label));
        }
        float[] v = features.values();
        int width = features.width();
        for (int i = 0; i < v.length; i++) {
            if (Float.isFinite(v[i]) == false || (this == FP16 && Math.abs(v[i]) >= FP16_OVERFLOW)) {
                throw new IllegalArgumentException(String.format(Locale.ROOT,
                    "token features cannot be stored as %s: value [%s] at token row [%d] channel [%d]", label, v[i], i / width, i % width));
            }
        }
        ByteBuffer out = ByteBuffer.allocate((int) size).order(ByteOrder.LITTLE_ENDIAN);
        out.put(MAGIC_0).put(MAGIC_1).put((byte) FORMAT_VERSION).put((byte) id)
            .put((byte) features.layers()).put((byte) 0)
            .putShort((short) features.tokens()).putShort((short) width);
        switch (this) {
            case FP32 -> out.asFloatBuffer().put(v);
            case FP16 -> {
                for (float x : v) {
                    out.putShort(Float.floatToFloat16(x));
                }
            }
            case INT8 -> {
                for (int row = 0; row < v.length / width; row++) {
                    int from = row * width;
                    float max = 0f;
                    for (int i = from; i < from + width; i++) {
                        max = Math.max(max, Math.abs(v[i]));
                    }
                    float scale = max / 127f;
                    out.putFloat(scale);
                    for (int i = from; i < from + width; i++) {
                        out.put(scale == 0f ? 0 : (byte) Math.max(-127, Math.min(127, Math.round(v[i] / scale))));
                    }
                }
            }
        }
        return out.array();
    }

    /** The header of a blob: its codec and shape, consistent with its length. */
    public record Header(FeatureCodec codec, int layers, int tokens, int width) {

        /** {@code [layers x tokens x width]}. */
        public String shape() {
            return "[" + layers + " x " + tokens + " x " + width + "]";
        }
    }

    /**
     * The header of {@code blob}, checked for magic, version, codec, a non-empty shape and a length
     * that is exactly what the shape needs (computed in long, so any claim is safe to check). Reads
     * the 10 header bytes only.
     */
    public static Header header(byte[] blob) {
        if (blob == null) {
            throw new IllegalArgumentException("no token-feature blob");
        }
        if (blob.length < HEADER_BYTES) {
            throw new IllegalArgumentException("token-feature blob has [" + blob.length + "] bytes, less than the ["
                + HEADER_BYTES + "]-byte header");
        }
        if (blob[0] != MAGIC_0 || blob[1] != MAGIC_1) {
            throw new IllegalArgumentException(String.format(Locale.ROOT,
                "token-feature blob starts with [%02x %02x], not the magic \"FR\"", blob[0], blob[1]));
        }
        if (blob[2] != FORMAT_VERSION) {
            throw new IllegalArgumentException("token-feature blob has format version [" + blob[2] + "], this code reads ["
                + FORMAT_VERSION + "]");
        }
        FeatureCodec codec = Arrays.stream(values()).filter(c -> c.id == blob[3]).findFirst().orElseThrow(
            () -> new IllegalArgumentException("token-feature blob has unknown codec id [" + blob[3] + "]"));
        ByteBuffer in = ByteBuffer.wrap(blob).order(ByteOrder.LITTLE_ENDIAN);
        Header h = new Header(codec, Byte.toUnsignedInt(blob[4]), Short.toUnsignedInt(in.getShort(6)), Short.toUnsignedInt(in.getShort(8)));
        if (h.layers == 0 || h.tokens == 0 || h.width == 0) {
            throw new IllegalArgumentException("token-feature blob header has an empty shape " + h.shape());
        }
        long expected = codec.encodedBytes(h.layers, h.tokens, h.width);
        if (blob.length != expected) {
            throw new IllegalArgumentException(String.format(Locale.ROOT,
                "%s token-feature blob %s must have [%d] bytes, has [%d]", codec.label, h.shape(), expected, blob.length));
        }
        return h;
    }

    /**
     * The header of {@code blob}, checked as {@link #header(byte[])} does and against {@code expected}
     * (layers, width and token range), so that a caller can size its buffers from the result.
     */
    public static Header header(byte[] blob, FeatureLayout expected) {
        Header h = header(blob);
        if (expected.fits(h.layers, h.tokens, h.width) == false) {
            throw new IllegalArgumentException("token-feature blob " + h.shape() + " does not fit the expected layout " + expected);
        }
        return h;
    }

    /** Decodes any codec's blob (the header says which); a non-finite value is an error. */
    public static TokenFeatures decode(byte[] blob) {
        Header h = header(blob);
        float[] out = new float[h.layers * h.tokens * h.width];
        decodeBody(blob, h, out, 0, h.tokens);
        return new TokenFeatures(h.layers, h.tokens, h.width, out);
    }

    /**
     * Decodes straight into a batch buffer (no intermediate array), after checking the header against
     * {@code expected}: layer {@code l}'s tokens start at {@code offset + l * paddedTokens * width}, so
     * that every item of a batch has the same stride; positions past the blob's tokens are not written.
     * Returns the blob's token count per layer. A non-finite value is an error, and leaves the item's
     * destination partly written.
     */
    public static int decodeInto(byte[] blob, FeatureLayout expected, float[] out, int offset, int paddedTokens) {
        Header h = header(blob, expected);
        if (paddedTokens < h.tokens || offset < 0 || offset + (long) h.layers * paddedTokens * h.width > out.length) {
            throw new IllegalArgumentException(String.format(Locale.ROOT,
                "token-feature blob %s does not fit a batch buffer of [%d] values at [%d] padded to [%d] tokens",
                h.shape(), out.length, offset, paddedTokens));
        }
        decodeBody(blob, h, out, offset, paddedTokens);
        return h.tokens;
    }

    private static void decodeBody(byte[] blob, Header h, float[] out, int offset, int paddedTokens) {
        ByteBuffer in = ByteBuffer.wrap(blob).order(ByteOrder.LITTLE_ENDIAN).position(HEADER_BYTES);
        int rows = h.layers * h.tokens;
        for (int row = 0; row < rows; row++) {
            int layer = row / h.tokens;
            int token = row % h.tokens;
            int base = offset + (layer * paddedTokens + token) * h.width;
            switch (h.codec) {
                case FP32 -> {
                    for (int i = 0; i < h.width; i++) {
                        out[base + i] = in.getFloat();
                    }
                }
                case FP16 -> {
                    for (int i = 0; i < h.width; i++) {
                        out[base + i] = Float.float16ToFloat(in.getShort());
                    }
                }
                case INT8 -> {
                    float scale = in.getFloat();
                    if (Float.isFinite(scale) == false || scale < 0) {
                        throw new IllegalArgumentException(String.format(Locale.ROOT,
                            "int8 token-feature blob has scale [%s] at layer [%d] token [%d]; a scale must be finite and >= 0",
                            scale, layer, token));
                    }
                    for (int i = 0; i < h.width; i++) {
                        out[base + i] = in.get() * scale;
                    }
                }
            }
            for (int i = 0; i < h.width; i++) {
                if (Float.isFinite(out[base + i]) == false) {
                    throw new IllegalArgumentException(String.format(Locale.ROOT,
                        "%s token-feature blob has value [%s] at layer [%d] token [%d] channel [%d]; values must be finite",
                        h.codec.label, out[base + i], layer, token, i));
                }
            }
        }
    }
}
