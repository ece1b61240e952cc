package io.fuserank.benchmarks;

import io.fuserank.encoder.ImageDecodeException;

import java.util.function.Predicate;

/**
 * One kind of bad input, the operation it goes through and the exception it must end in, with a
 * tally of how often it did: {@link FailureLeakCheck} proves both that the failure paths fail
 * the documented way and that they release what they allocated.
 */
final class FailureCase {

    /** The operation under test; it must throw. */
    @FunctionalInterface
    interface Operation {
        void run() throws Exception;
    }

    private final String name;
    private final String expected;
    private final Predicate<Exception> matches;
    private final Operation operation;
    private long runs;
    private long asExpected;
    private String firstUnexpected;

    private FailureCase(String name, String expected, Predicate<Exception> matches, Operation operation) {
        this.name = name;
        this.expected = expected;
        this.matches = matches;
        this.operation = operation;
    }

    /** Must throw an exception of {@code type} (or a subtype). */
    static FailureCase throwing(String name, Class<? extends Exception> type, Operation operation) {
        return new FailureCase(name, type.getSimpleName(), type::isInstance, operation);
    }

    /** Must throw an {@link ImageDecodeException} with this reason. */
    static FailureCase rejecting(String name, ImageDecodeException.Reason reason, Operation operation) {
        return new FailureCase(name, "ImageDecodeException(" + reason + ")",
            e -> e instanceof ImageDecodeException decode && decode.reason() == reason, operation);
    }

    /** Runs the operation once and tallies the outcome; errors ({@link OutOfMemoryError}...) propagate. */
    void runOnce() {
        runs++;
        try {
            operation.run();
        } catch (Exception e) {
            if (matches.test(e)) {
                asExpected++;
            } else if (firstUnexpected == null) {
                firstUnexpected = e.toString();
            }
            return;
        }
        if (firstUnexpected == null) {
            firstUnexpected = "completed without an exception";
        }
    }

    String name() {
        return name;
    }

    String expected() {
        return expected;
    }

    long runs() {
        return runs;
    }

    long asExpected() {
        return asExpected;
    }

    boolean allAsExpected() {
        return runs == asExpected;
    }

    /** The first outcome that was not the expected exception, or null. */
    String firstUnexpected() {
        return firstUnexpected;
    }
}
