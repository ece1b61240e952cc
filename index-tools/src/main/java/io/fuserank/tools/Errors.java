package io.fuserank.tools;

import co.elastic.clients.elasticsearch._types.ErrorCause;

/** Exceptions and Elasticsearch errors as one line, for a dead-letter reason or an error message. */
final class Errors {

    private Errors() {
    }

    /**
     * The exception's class and message, and its root cause's when there is one: the client's
     * exceptions wrap the line that matters ("Connection refused", "PKIX path building failed").
     */
    static String describe(Throwable t) {
        Throwable root = t;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        String first = t.getClass().getSimpleName() + (t.getMessage() == null ? "" : ": " + t.getMessage());
        if (root == t) {
            return first;
        }
        return first + " (caused by " + root.getClass().getSimpleName() + (root.getMessage() == null ? "" : ": " + root.getMessage()) + ")";
    }

    /** {@code type: reason; caused by type: reason...}, as a bulk item or mget error gives them. */
    static String describe(ErrorCause error) {
        StringBuilder out = new StringBuilder(error.type()).append(": ").append(error.reason());
        for (ErrorCause cause = error.causedBy(); cause != null; cause = cause.causedBy()) {
            out.append("; caused by ").append(cause.type()).append(": ").append(cause.reason());
        }
        return out.toString();
    }
}
