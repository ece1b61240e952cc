package io.fuserank.tools;

/**
 * Why a document was not indexed: the word that starts every dead-letter {@code reason}, so that
 * failures can be counted and grouped ({@code cut -d: -f1}) without parsing messages. Image
 * decoding failures use {@link io.fuserank.encoder.ImageDecodeException.Reason}'s names instead.
 */
enum FailureCode {
    /** The source record itself is malformed (a bad JSONL line, a Karpathy entry without an image). */
    BAD_ENTRY,
    /** The image file could not be read. */
    UNREADABLE,
    /** A caption the text tokenizer rejects: empty (after caption cleaning) or over 4,096 characters. */
    BAD_CAPTION,
    /** The image or text encoder failed on a batch. */
    ENCODER,
    /** Elasticsearch refused the document with an error that retrying cannot fix (a 4xx). */
    REJECTED,
    /** Elasticsearch kept answering 429 or 5xx until the retries ran out. */
    RETRIES_EXHAUSTED,
    /** The cluster could not be reached until the retries ran out; the run stops. */
    UNREACHABLE,
    /** The run stopped (the cluster became unreachable) while this document was still waiting for a retry. */
    ABORTED;

    String reason(String message) {
        return name() + ": " + message;
    }
}
