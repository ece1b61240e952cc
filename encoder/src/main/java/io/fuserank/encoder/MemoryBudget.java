package io.fuserank.encoder;

/**
 * Heap that work is about to allocate, asked for before it is allocated. It is how a host
 * accounts memory that its input decides without this library depending on the host: the
 * Elasticsearch plugin backs it with a circuit breaker, so that an image whose pixels would not
 * fit is refused with a 429 instead of exhausting the heap. {@link ImagePreprocessor} reserves an
 * image's decoding memory from the image header, before any pixel buffer exists, and gives it
 * back once the image is a tensor (or has failed).
 */
@FunctionalInterface
public interface MemoryBudget {

    /** No limit but the JVM's heap: for the CLI, the benchmarks and tests. */
    MemoryBudget UNBOUNDED = (bytes, what) -> () -> {
    };

    /**
     * Reserves {@code bytes} for {@code what} (a description for the refusal message).
     *
     * @return the reservation; closing it gives the bytes back
     * @throws RuntimeException the implementation's own, when the bytes do not fit; nothing is
     *                          reserved then, and callers pass the exception on unchanged (as the
     *                          cause of an {@link ImageDecodeException.Reason#OVER_MEMORY_BUDGET})
     */
    Reservation reserve(long bytes, String what);

    /** Reserved bytes, given back by {@link #close}. */
    interface Reservation extends AutoCloseable {
        @Override
        void close();
    }
}
