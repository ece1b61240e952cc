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
 * patches. Decoding checks the header against what the caller expects, so a blob written by
 * another model is an error, never silently wrong scores.
 */
public enum FeatureCodec {
    FP32(0, "fp32"),
    FP16(1, "fp16"),
    INT8(2, "int8");

    public static final int HEADER_BYTES = 10;
    public static final int FORMAT_VERSION = 1;
    private static final byte MAGIC_0 = 'F';
    private static final byte MAGIC_1 = 'R';

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

    /** Blob size for features of this shape. */
    public int encodedBytes(int layers, int tokens, int width) {
        long rows = (long) layers * tokens;
        long body = switch (this) {
            case FP32 -> rows * width * 4;
            case FP16 -> rows * width * 2;
            case INT8 -> rows * (4 + width);
        };
        return Math.toIntExact(HEADER_BYTES + body);
    }

    public byte[] encode(TokenFeatures features) {
        if (features.layers() > 255 || features.tokens() > 65535 || features.width() > 65535) {
            throw new IllegalArgumentException(String.format(Locale.ROOT,
                "token features [%d x %d x %d] exceed the blob header's limits [255 x 65535 x 65535]",
                features.layers(), features.tokens(), features.width()));
        }
        ByteBuffer out = ByteBuffer.allocate(encodedBytes(features.layers(), features.tokens(), features.width()))
            .order(ByteOrder.LITTLE_ENDIAN);
        out.put(MAGIC_0).put(MAGIC_1).put((byte) FORMAT_VERSION).put((byte) id)
            .put((byte) features.layers()).put((byte) 0)
            .putShort((short) features.tokens()).putShort((short) features.width());
        float[] v = features.values();
        int width = features.width();
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

    /** The header of a blob, checked for magic, version, codec and size. */
    public record Header(FeatureCodec codec, int layers, int tokens, int width) {
    }

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
        int layers = Byte.toUnsignedInt(blob[4]);
        int tokens = Short.toUnsignedInt(in.getShort(6));
        int width = Short.toUnsignedInt(in.getShort(8));
        if (layers == 0 || tokens == 0 || width == 0) {
            throw new IllegalArgumentException(String.format(Locale.ROOT,
                "token-feature blob header has an empty shape [%d x %d x %d]", layers, tokens, width));
        }
        int expected = codec.encodedBytes(layers, tokens, width);
        if (blob.length != expected) {
            throw new IllegalArgumentException(String.format(Locale.ROOT,
                "%s token-feature blob [%d x %d x %d] must have [%d] bytes, has [%d]", codec.label, layers, tokens, width,
                expected, blob.length));
        }
        return new Header(codec, layers, tokens, width);
    }

    /** Decodes any codec's blob (the header says which). */
    public static TokenFeatures decode(byte[] blob) {
        Header h = header(blob);
        float[] out = new float[h.layers * h.tokens * h.width];
        decodeBody(blob, h, out, 0);
        return new TokenFeatures(h.layers, h.tokens, h.width, out);
    }

    /**
     * Decodes straight into a batch buffer at {@code offset} (no intermediate array), checking that
     * the blob has the layers and width the model expects; returns the token count per layer.
     */
    public static int decodeInto(byte[] blob, int expectedLayers, int expectedWidth, float[] out, int offset) {
        Header h = header(blob);
        if (h.layers != expectedLayers || h.width != expectedWidth) {
            throw new IllegalArgumentException(String.format(Locale.ROOT,
                "token-feature blob has [%d] layers of width [%d], the model expects [%d] of width [%d]",
                h.layers, h.width, expectedLayers, expectedWidth));
        }
        if (offset + h.layers * h.tokens * h.width > out.length) {
            throw new IllegalArgumentException("token-feature blob of [" + h.tokens + "] tokens does not fit the batch buffer");
        }
        decodeBody(blob, h, out, offset);
        return h.tokens;
    }

    private static void decodeBody(byte[] blob, Header h, float[] out, int offset) {
        ByteBuffer in = ByteBuffer.wrap(blob).order(ByteOrder.LITTLE_ENDIAN).position(HEADER_BYTES);
        int n = h.layers * h.tokens * h.width;
        switch (h.codec) {
            case FP32 -> in.asFloatBuffer().get(out, offset, n);
            case FP16 -> {
                for (int i = 0; i < n; i++) {
                    out[offset + i] = Float.float16ToFloat(in.getShort());
                }
            }
            case INT8 -> {
                int rows = h.layers * h.tokens;
                for (int row = 0; row < rows; row++) {
                    float scale = in.getFloat();
                    int base = offset + row * h.width;
                    for (int i = 0; i < h.width; i++) {
                        out[base + i] = in.get() * scale;
                    }
                }
            }
        }
    }
}
