package io.fuserank.reranker;

/**
 * Why one candidate of a rerank was not scored. {@link Kind#WRONG_MODALITY} is told apart because
 * it usually means the request points at the wrong field (a text query over caption features),
 * while {@link Kind#CORRUPT} is a bad stored value.
 */
public record Rejection(Kind kind, String reason) {

    public enum Kind {
        /**
         * The blob cannot be scored by this model: unreadable, inconsistent, of another model's shape,
         * holding non-finite values, or with values that drive the ITM logit to a non-finite number.
         */
        CORRUPT,
        /** A well-formed blob of this model, but of the modality the query has (caption features for a text query). */
        WRONG_MODALITY
    }

    static Rejection corrupt(String reason) {
        return new Rejection(Kind.CORRUPT, reason);
    }
}
