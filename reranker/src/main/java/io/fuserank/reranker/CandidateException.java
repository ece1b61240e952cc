package io.fuserank.reranker;

/** One candidate of a rerank could not be scored; {@link #candidate()} is its position in the list. */
public final class CandidateException extends IllegalArgumentException {

    private final int candidate;

    public CandidateException(int candidate, String reason, Throwable cause) {
        super("candidate [" + candidate + "] cannot be scored: " + reason, cause);
        this.candidate = candidate;
    }

    public int candidate() {
        return candidate;
    }
}
