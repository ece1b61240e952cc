package io.fuserank.encoder;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Locale;

/**
 * A caption's token ids as the blob stored in a {@code binary} doc-values field, and back: what a
 * caption document stores when the fusion graph reads the candidate's {@code token_ids} (a BLIP
 * bundle's image-grounded text encoder runs from the ids; see {@link FusionDeclaration}).
 *
 * <p>Layout, little-endian: a 6-byte header, then the ids.
 * <pre>
 *   0  2 bytes  magic "FT"
 *   2  1 byte   format version (1)
 *   3  1 byte   reserved (0)
 *   4  2 bytes  tokens (unsigned)
 *   6  tokens x int32 ids, [CLS] ... [SEP] as the tokenizer gave them, no padding
 * </pre>
 * A 35-token caption costs 146 bytes. The magic differs from {@link FeatureCodec}'s "FR", so a
 * token-feature blob is never read as ids, nor the reverse.
 *
 * <p>A stored blob is untrusted input: {@link #header} checks the magic, the version, the length
 * against the claimed count and the count against the model's {@link Limits} before anything is
 * allocated, and decoding checks every id against the vocabulary size, so that no stored value can
 * index past the model's embedding table. Every failure is an {@link IllegalArgumentException}
 * naming what is wrong.
 */
public final class TokenIdsCodec {

    public static final int HEADER_BYTES = 6;
    public static final int FORMAT_VERSION = 1;
    private static final byte MAGIC_0 = 'F';
    private static final byte MAGIC_1 = 'T';

    private TokenIdsCodec() {
    }

    /** What a model accepts: 1 to {@code maxTokens} ids, each in {@code [0, vocabSize)}. */
    public record Limits(int maxTokens, int vocabSize) {
        public Limits {
            if (maxTokens < 1 || maxTokens > 65535 || vocabSize < 1) {
                throw new IllegalArgumentException(String.format(Locale.ROOT,
                    "token-id limits need 1 <= maxTokens <= 65535 and a positive vocabulary size, got [%d] and [%d]", maxTokens, vocabSize));
            }
        }

        @Override
        public String toString() {
            return String.format(Locale.ROOT, "[1..%d ids < %d]", maxTokens, vocabSize);
        }
    }

    /** Bytes of the blob of {@code tokens} ids. */
    public static int encodedBytes(int tokens) {
        return HEADER_BYTES + 4 * tokens;
    }

    /** Throws the IllegalArgumentException {@link #encode} would throw for {@code ids}, if any. */
    public static void check(long[] ids, Limits limits) {
        if (ids.length < 1 || ids.length > limits.maxTokens()) {
            throw new IllegalArgumentException("cannot store [" + ids.length + "] token ids; the model takes " + limits);
        }
        for (int i = 0; i < ids.length; i++) {
            checkId(ids[i], i, limits);
        }
    }

    /** The blob of {@code ids}, checked against {@code limits} as a reader will check it. */
    public static byte[] encode(long[] ids, Limits limits) {
        check(ids, limits);
        ByteBuffer out = ByteBuffer.allocate(encodedBytes(ids.length)).order(ByteOrder.LITTLE_ENDIAN);
        out.put(MAGIC_0).put(MAGIC_1).put((byte) FORMAT_VERSION).put((byte) 0).putShort((short) ids.length);
        for (long id : ids) {
            out.putInt((int) id);
        }
        return out.array();
    }

    /**
     * The token count of {@code blob}, after checking its magic, version, length (exactly what the
     * count needs) and the count against {@code limits}. Reads the header only.
     */
    public static int header(byte[] blob, Limits limits) {
        if (blob == null) {
            throw new IllegalArgumentException("no token-id blob");
        }
        if (blob.length < HEADER_BYTES) {
            throw new IllegalArgumentException("token-id blob has [" + blob.length + "] bytes, less than the [" + HEADER_BYTES
                + "]-byte header");
        }
        if (blob[0] != MAGIC_0 || blob[1] != MAGIC_1) {
            throw new IllegalArgumentException(String.format(Locale.ROOT,
                "token-id blob starts with [%02x %02x], not the magic \"FT\"", blob[0], blob[1]));
        }
        if (blob[2] != FORMAT_VERSION) {
            throw new IllegalArgumentException("token-id blob has format version [" + blob[2] + "], this code reads [" + FORMAT_VERSION + "]");
        }
        int tokens = Short.toUnsignedInt(ByteBuffer.wrap(blob).order(ByteOrder.LITTLE_ENDIAN).getShort(4));
        if (blob.length != encodedBytes(tokens)) {
            throw new IllegalArgumentException(String.format(Locale.ROOT,
                "token-id blob of [%d] ids must have [%d] bytes, has [%d]", tokens, encodedBytes(tokens), blob.length));
        }
        if (tokens < 1 || tokens > limits.maxTokens()) {
            throw new IllegalArgumentException("token-id blob has [" + tokens + "] ids; the model takes " + limits);
        }
        return tokens;
    }

    /** Whether {@code blob} starts with this codec's magic (and may be a token-id blob at all). */
    public static boolean hasMagic(byte[] blob) {
        return blob != null && blob.length >= 2 && blob[0] == MAGIC_0 && blob[1] == MAGIC_1;
    }

    /** The ids of {@code blob}, checked as {@link #decodeInto} checks them. */
    public static long[] decode(byte[] blob, Limits limits) {
        long[] out = new long[header(blob, limits)];
        decodeInto(blob, limits, out, 0);
        return out;
    }

    /**
     * Decodes straight into a batch buffer at {@code offset} after checking the header; returns the
     * id count. An id outside the vocabulary is an error and leaves the destination partly written.
     */
    public static int decodeInto(byte[] blob, Limits limits, long[] out, int offset) {
        int tokens = header(blob, limits);
        if (offset < 0 || offset + (long) tokens > out.length) {
            throw new IllegalArgumentException(String.format(Locale.ROOT,
                "token-id blob of [%d] ids does not fit a batch buffer of [%d] at [%d]", tokens, out.length, offset));
        }
        ByteBuffer in = ByteBuffer.wrap(blob).order(ByteOrder.LITTLE_ENDIAN).position(HEADER_BYTES);
        for (int i = 0; i < tokens; i++) {
            long id = in.getInt();
            checkId(id, i, limits);
            out[offset + i] = id;
        }
        return tokens;
    }

    private static void checkId(long id, int position, Limits limits) {
        if (id < 0 || id >= limits.vocabSize()) {
            throw new IllegalArgumentException(String.format(Locale.ROOT,
                "token id [%d] at position [%d] is outside the vocabulary [0, %d)", id, position, limits.vocabSize()));
        }
    }
}
