package io.fuserank.encoder;

import java.io.IOException;
import java.util.Objects;

/**
 * An encoded image that {@link ImagePreprocessor} will not turn into pixels. {@link #reason()} is
 * machine-readable (an indexer counts or reports rejects by it); the message says what was wrong
 * and with which value.
 */
public final class ImageDecodeException extends IOException {

    /** Why the image was rejected. */
    public enum Reason {
        /** Zero bytes. */
        EMPTY,
        /** More encoded bytes than {@link ImagePreprocessor.Limits#maxEncodedBytes()}. */
        TOO_LARGE_ENCODED,
        /** The header declares more pixels than {@link ImagePreprocessor.Limits#maxPixels()}. */
        TOO_MANY_PIXELS,
        /** No reader recognises the format (not JPEG, PNG, GIF, BMP or WebP). */
        UNSUPPORTED_FORMAT,
        /** A reader recognised the format but could not decode the whole image. */
        CORRUPT,
        /** The model's resize has no output size for the image's shape (a strip too thin for a shortest-edge resize). */
        UNSUPPORTED_SHAPE,
        /**
         * The {@link MemoryBudget} refused the memory that decoding needs (the cause is its
         * exception): a condition of the moment, not of the image, so a retry may succeed.
         */
        OVER_MEMORY_BUDGET
    }

    private final Reason reason;

    public ImageDecodeException(Reason reason, String message) {
        super(message);
        this.reason = Objects.requireNonNull(reason, "reason");
    }

    public ImageDecodeException(Reason reason, String message, Throwable cause) {
        super(message, cause);
        this.reason = Objects.requireNonNull(reason, "reason");
    }

    public Reason reason() {
        return reason;
    }
}
