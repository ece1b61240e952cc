package io.fuserank.encoder;

import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Stored caption ids: round trip, the exact byte layout, and every hostile blob refused before allocation. */
class TokenIdsCodecTest {

    private static final TokenIdsCodec.Limits LIMITS = new TokenIdsCodec.Limits(35, 84);

    @Test
    void roundTripsAndHasTheDocumentedLayout() {
        long[] ids = {2, 17, 5, 83, 0, 3};
        byte[] blob = TokenIdsCodec.encode(ids, LIMITS);
        assertEquals(6 + 4 * 6, blob.length);
        assertArrayEquals(new byte[] {'F', 'T', 1, 0, 6, 0, 2, 0, 0, 0, 17, 0, 0, 0}, Arrays.copyOf(blob, 14));
        assertArrayEquals(ids, TokenIdsCodec.decode(blob, LIMITS));
        long[] batch = new long[10];
        Arrays.fill(batch, -1);
        assertEquals(6, TokenIdsCodec.decodeInto(blob, LIMITS, batch, 3));
        assertArrayEquals(new long[] {-1, -1, -1, 2, 17, 5, 83, 0, 3, -1}, batch);
        assertTrue(TokenIdsCodec.hasMagic(blob));
        assertFalse(TokenIdsCodec.hasMagic(FeatureCodec.FP32.encode(new TokenFeatures(1, 1, 1, new float[] {1f}))));
    }

    @Test
    void encodingRefusesWhatAReaderWouldRefuse() {
        assertEquals("token id [84] at position [1] is outside the vocabulary [0, 84)",
            assertThrows(IllegalArgumentException.class, () -> TokenIdsCodec.encode(new long[] {2, 84}, LIMITS)).getMessage());
        assertEquals("cannot store [36] token ids; the model takes [1..35 ids < 84]",
            assertThrows(IllegalArgumentException.class, () -> TokenIdsCodec.encode(new long[36], LIMITS)).getMessage());
        assertThrows(IllegalArgumentException.class, () -> TokenIdsCodec.encode(new long[0], LIMITS));
    }

    @Test
    void hostileBlobsAreRefusedNamingTheDefect() {
        byte[] good = TokenIdsCodec.encode(new long[] {2, 7, 3}, LIMITS);
        assertRefused(null, "no token-id blob");
        assertRefused(new byte[] {'F', 'T', 1}, "token-id blob has [3] bytes, less than the [6]-byte header");
        assertRefused(FeatureCodec.FP32.encode(new TokenFeatures(1, 1, 1, new float[] {1f})), "not the magic \"FT\"");
        byte[] version = good.clone();
        version[2] = 2;
        assertRefused(version, "token-id blob has format version [2], this code reads [1]");
        assertRefused(Arrays.copyOf(good, good.length - 1), "token-id blob of [3] ids must have [18] bytes, has [17]");
        byte[] huge = good.clone();
        huge[4] = (byte) 0xFF;
        huge[5] = (byte) 0xFF;
        assertRefused(huge, "token-id blob of [65535] ids must have [262146] bytes, has [18]");
        assertRefused(TokenIdsCodec.encode(new long[36], new TokenIdsCodec.Limits(40, 84)),
            "token-id blob has [36] ids; the model takes [1..35 ids < 84]");
        assertRefused(new byte[] {'F', 'T', 1, 0, 0, 0}, "token-id blob has [0] ids");
        byte[] outside = good.clone();
        outside[10] = (byte) 0xFF;
        outside[11] = (byte) 0xFF;
        outside[12] = (byte) 0xFF;
        outside[13] = (byte) 0xFF;
        assertRefused(outside, "token id [-1] at position [1] is outside the vocabulary [0, 84)");
        byte[] big = good.clone();
        big[10] = 84;
        assertRefused(big, "token id [84] at position [1] is outside the vocabulary [0, 84)");
    }

    @Test
    void randomBytesNeverDecodeToAnOutOfRangeId() {
        Random random = new Random(7);
        for (int i = 0; i < 2000; i++) {
            byte[] blob = new byte[random.nextInt(40)];
            random.nextBytes(blob);
            if (random.nextBoolean() && blob.length >= 6) {
                blob[0] = 'F';
                blob[1] = 'T';
                blob[2] = 1;
                blob[4] = (byte) ((blob.length - 6) / 4);
                blob[5] = 0;
            }
            try {
                for (long id : TokenIdsCodec.decode(blob, LIMITS)) {
                    assertTrue(id >= 0 && id < 84, "id " + id);
                }
            } catch (IllegalArgumentException expected) {
                // refused: the only other outcome
            }
        }
    }

    private static void assertRefused(byte[] blob, String expected) {
        var e = assertThrows(IllegalArgumentException.class, () -> TokenIdsCodec.decode(blob, LIMITS));
        assertTrue(e.getMessage().contains(expected), e.getMessage());
    }
}
