package io.fuserank.tools;

import io.fuserank.encoder.ImageDecodeException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/** Reads an image file whole, refusing one larger than the preprocessor would accept before allocating for it. */
final class ImageFiles {

    private ImageFiles() {
    }

    static byte[] read(Path file, long maxBytes) throws IOException {
        long size = Files.size(file);
        if (size > maxBytes) {
            throw new ImageDecodeException(ImageDecodeException.Reason.TOO_LARGE_ENCODED, String.format(Locale.ROOT,
                "image has [%d] bytes, more than the limit [%d]", size, maxBytes));
        }
        return Files.readAllBytes(file);
    }

    /** The dead-letter reason for a file that {@link #read} or the preprocessor refused. */
    static String reason(Path file, IOException e) {
        if (e instanceof ImageDecodeException decode) {
            return decode.reason().name() + ": " + decode.getMessage();
        }
        return FailureCode.UNREADABLE.reason("cannot read [" + file + "]: " + Errors.describe(e));
    }
}
