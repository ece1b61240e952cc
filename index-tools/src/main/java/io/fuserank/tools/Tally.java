package io.fuserank.tools;

import java.io.UncheckedIOException;
import java.util.Map;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * What became of each source entry, counted from every thread: indexed, skipped ({@code --resume}
 * found it in the index) or failed (written to the dead-letter file). Each outcome advances the
 * progress display. Also holds the reason the run stopped early, if it did.
 */
final class Tally {

    private final DeadLetterFile deadLetters;
    private final Progress progress;
    private final AtomicLong indexed = new AtomicLong();
    private final AtomicLong skipped = new AtomicLong();
    private final AtomicLong failed = new AtomicLong();
    private final AtomicLong retried = new AtomicLong();
    private final Map<String, AtomicLong> retriedByCause = new ConcurrentSkipListMap<>();
    private final AtomicReference<String> abortReason = new AtomicReference<>();

    Tally(DeadLetterFile deadLetters, Progress progress) {
        this.deadLetters = deadLetters;
        this.progress = progress;
    }

    void indexed(long n) {
        indexed.addAndGet(n);
        progress.advance(n);
    }

    void skipped(long n) {
        skipped.addAndGet(n);
        progress.advance(n);
    }

    /**
     * Counts a failure and writes its dead letter. A dead-letter file that cannot be written (a
     * full disk) aborts the run rather than throwing: this is called from the bulk listener's
     * threads, where an exception would be lost and the document left without an outcome.
     */
    void failed(String id, String path, String reason) {
        failed.incrementAndGet();
        progress.advance(1);
        try {
            deadLetters.write(id, path, reason);
        } catch (UncheckedIOException e) {
            abort(e.getMessage() + ": " + Errors.describe(e.getCause()));
        }
    }

    /**
     * Documents sent again (a document retried twice counts twice), by cause: the HTTP status, or
     * {@code connection} when none came back.
     */
    void retried(String cause, long n) {
        retried.addAndGet(n);
        retriedByCause.computeIfAbsent(cause, c -> new AtomicLong()).addAndGet(n);
    }

    /** Stops the run: the first reason given wins. */
    void abort(String reason) {
        abortReason.compareAndSet(null, reason);
    }

    boolean aborted() {
        return abortReason.get() != null;
    }

    String abortReason() {
        return abortReason.get();
    }

    long indexed() {
        return indexed.get();
    }

    long skipped() {
        return skipped.get();
    }

    long failed() {
        return failed.get();
    }

    long retried() {
        return retried.get();
    }

    /** E.g. {@code 429: 140, connection: 12}. */
    String retriedByCause() {
        StringBuilder out = new StringBuilder();
        retriedByCause.forEach((cause, n) -> out.append(out.isEmpty() ? "" : ", ").append(cause).append(": ").append(n.get()));
        return out.toString();
    }

    DeadLetterFile deadLetters() {
        return deadLetters;
    }
}
