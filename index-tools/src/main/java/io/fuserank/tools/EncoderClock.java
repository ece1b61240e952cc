package io.fuserank.tools;

import java.util.concurrent.atomic.AtomicLong;

/**
 * Time the worker threads spend preparing their inputs (reading and preprocessing images; nothing
 * for captions, which the text encoder tokenizes itself) and inside the encoder call
 * ({@code ImageEncoder.encodePixels}, {@code TextEncoder.encodeEach}), summed over threads.
 * Dividing by the thread count gives the rate the encoder alone would reach on those threads, to
 * compare with the end-to-end rate of the same run (the "end-to-end at least 80% of the
 * raw encoder").
 */
final class EncoderClock {

    private final AtomicLong items = new AtomicLong();
    private final AtomicLong prepareNanos = new AtomicLong();
    private final AtomicLong encodeNanos = new AtomicLong();

    void prepared(long nanos) {
        prepareNanos.addAndGet(nanos);
    }

    void encoded(int count, long nanos) {
        items.addAndGet(count);
        encodeNanos.addAndGet(nanos);
    }

    /** Images or captions encoded so far. */
    long items() {
        return items.get();
    }

    /** Items per second inside the encoder call with {@code threads} threads encoding at once; 0 before any. */
    double encoderRate(int threads) {
        return rate(items.get(), encodeNanos.get(), threads);
    }

    /** The same including preparing the inputs (reading and preprocessing the files). */
    double encoderWithPreprocessingRate(int threads) {
        return rate(items.get(), encodeNanos.get() + prepareNanos.get(), threads);
    }

    private static double rate(long items, long nanos, int threads) {
        return nanos == 0 ? 0 : items / (nanos / 1e9 / threads);
    }
}
