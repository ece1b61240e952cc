package io.fuserank.reranker;

import java.util.Objects;

/**
 * The outcome of one rerank, one entry per candidate in the caller's order: a finite ITM logit, or
 * the {@link Rejection} saying why the candidate was not scored. One bad candidate never costs the
 * others their scores.
 */
public final class CandidateScores {

    private final float[] scores;
    private final Rejection[] rejections;

    /** {@code rejections[i]} is null exactly where {@code scores[i]} is a finite score. */
    CandidateScores(float[] scores, Rejection[] rejections) {
        assert scores.length == rejections.length : scores.length + " scores for " + rejections.length + " candidates";
        this.scores = scores;
        this.rejections = rejections;
    }

    public int size() {
        return scores.length;
    }

    public boolean isScored(int candidate) {
        return rejections[candidate] == null;
    }

    /** The ITM logit of a scored candidate; always finite. */
    public float score(int candidate) {
        if (rejections[candidate] != null) {
            throw new IllegalStateException("candidate [" + candidate + "] was not scored: " + rejections[candidate].reason());
        }
        return scores[candidate];
    }

    /** Why the candidate was not scored, or null if it was. */
    public Rejection rejection(int candidate) {
        return rejections[candidate];
    }

    /** How many candidates were not scored. */
    public int rejected() {
        return (int) java.util.Arrays.stream(rejections).filter(Objects::nonNull).count();
    }

    /** Every score, in order, for callers that treat any bad candidate as an error: the first one is thrown. */
    public float[] orThrow() {
        for (int i = 0; i < rejections.length; i++) {
            if (rejections[i] != null) {
                throw new CandidateException(i, rejections[i]);
            }
        }
        return scores.clone();
    }
}
