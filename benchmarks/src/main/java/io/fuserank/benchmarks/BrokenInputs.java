package io.fuserank.benchmarks;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.zip.CRC32;

/**
 * Image files crafted to fail in each of the preprocessor's rejection paths, as an indexer meets
 * them in a crawl: noise, truncation, a decompression bomb's header, and headers of a supported
 * format with nothing decodable behind them.
 */
final class BrokenInputs {

    /** Width and height the bomb's header declares: 900 megapixels in a file of a few dozen bytes. */
    static final int BOMB_SIDE = 30_000;

    private static final byte[] PNG_SIGNATURE = {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};

    private BrokenInputs() {
    }

    /**
     * {@code length} random bytes whose first byte is 0, which no supported format's signature
     * starts with, so they are always "unsupported", never a lucky BMP or JPEG.
     */
    static byte[] noise(SplittableRandom random, int length) {
        byte[] bytes = new byte[length];
        for (int i = 0; i < length; i++) {
            bytes[i] = (byte) random.nextInt(256);
        }
        bytes[0] = 0;
        return bytes;
    }

    /** The first half of a valid file. */
    static byte[] truncated(byte[] file) {
        return Arrays.copyOf(file, file.length / 2);
    }

    /** A well-formed PNG signature and IHDR declaring {@value #BOMB_SIDE} squared RGB pixels, then one empty IDAT and IEND. */
    static byte[] pngBomb() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(PNG_SIGNATURE);
        ByteBuffer header = ByteBuffer.allocate(13)
            .putInt(BOMB_SIDE).putInt(BOMB_SIDE)
            .put((byte) 8).put((byte) 2).put((byte) 0).put((byte) 0).put((byte) 0); // 8-bit RGB, deflate, no interlace
        pngChunk(out, "IHDR", header.array());
        pngChunk(out, "IDAT", new byte[0]);
        pngChunk(out, "IEND", new byte[0]);
        return out.toByteArray();
    }

    /** JPEG start-of-image and a JFIF APP0 segment, then end-of-image: no frame header to decode. */
    static byte[] jpegWithoutFrame() {
        return new byte[] {
            (byte) 0xFF, (byte) 0xD8, // SOI
            (byte) 0xFF, (byte) 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00,
            (byte) 0xFF, (byte) 0xD9, // EOI
        };
    }

    /** A complete RIFF/WEBP container whose lossy VP8 chunk holds zeros instead of a frame (no start code). */
    static byte[] webpWithBrokenFrame() {
        byte[] frame = new byte[16];
        ByteBuffer out = ByteBuffer.allocate(12 + 8 + frame.length).order(ByteOrder.LITTLE_ENDIAN);
        out.put("RIFF".getBytes(StandardCharsets.US_ASCII)).putInt(4 + 8 + frame.length).put("WEBP".getBytes(StandardCharsets.US_ASCII));
        out.put("VP8 ".getBytes(StandardCharsets.US_ASCII)).putInt(frame.length).put(frame);
        return out.array();
    }

    private static void pngChunk(ByteArrayOutputStream out, String type, byte[] data) {
        byte[] typeBytes = type.getBytes(StandardCharsets.US_ASCII);
        CRC32 crc = new CRC32();
        crc.update(typeBytes);
        crc.update(data);
        out.writeBytes(ByteBuffer.allocate(4).putInt(data.length).array());
        out.writeBytes(typeBytes);
        out.writeBytes(data);
        out.writeBytes(ByteBuffer.allocate(4).putInt((int) crc.getValue()).array());
    }
}
