package io.fuserank.reranker;

/**
 * One candidate of a rerank could not be scored, for callers that want every candidate scored or
 * an error ({@link CandidateScores#orThrow()}); {@link #candidate()} is its position in the list.
 */
public final class CandidateException extends IllegalArgumentException {

    private final int candidate;
    private final Rejection rejection;

    public CandidateException(int candidate, Rejection rejection) {
        super("candidate [" + candidate + "] cannot be scored: " + rejection.reason());
        this.candidate = candidate;
        this.rejection = rejection;
    }

    public int candidate() {
        return candidate;
    }

    public Rejection rejection() {
        return rejection;
    }
}
