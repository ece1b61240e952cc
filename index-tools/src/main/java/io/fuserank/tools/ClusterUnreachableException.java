package io.fuserank.tools;

import java.io.IOException;
import java.util.Locale;

/** No request reached the cluster through all retries: the run cannot go on, and says where it tried. */
final class ClusterUnreachableException extends IOException {

    ClusterUnreachableException(String target, int attempts, Throwable last) {
        super(message(target, attempts, Errors.describe(RetryPolicy.unwrap(last))), RetryPolicy.unwrap(last));
    }

    static String message(String target, int attempts, String lastError) {
        return String.format(Locale.ROOT, "cannot reach [%s] after %d attempts: %s", target, attempts, lastError);
    }
}
