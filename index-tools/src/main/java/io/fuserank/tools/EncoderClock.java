package io.fuserank.tools;

import java.util.concurrent.atomic.AtomicLong;

/**
 * Time the worker threads spend reading and preprocessing images, and inside
 * {@code ImageEncoder.encodePixels}, summed over threads. Dividing by the thread count gives the
 * rate the encoder alone would reach on those threads, to compare with the end-to-end rate of the
 * same run (the "end-to-end at least 80% of the raw encoder").
 */
final class EncoderClock {

    private final AtomicLong images = new AtomicLong();
    private final AtomicLong prepareNanos = new AtomicLong();
    private final AtomicLong encodeNanos = new AtomicLong();

    void prepared(long nanos) {
        prepareNanos.addAndGet(nanos);
    }

    void encoded(int count, long nanos) {
        images.addAndGet(count);
        encodeNanos.addAndGet(nanos);
    }

    long images() {
        return images.get();
    }

    /** Images per second inside encodePixels with {@code threads} threads encoding at once; 0 before any. */
    double encoderRate(int threads) {
        return rate(images.get(), encodeNanos.get(), threads);
    }

    /** The same including reading and preprocessing the files. */
    double encoderWithPreprocessingRate(int threads) {
        return rate(images.get(), encodeNanos.get() + prepareNanos.get(), threads);
    }

    private static double rate(long images, long nanos, int threads) {
        return nanos == 0 ? 0 : images / (nanos / 1e9 / threads);
    }
}
