package io.fuserank.reranker;

/**
 * The parts of a reranked score, as the {@code fuserank_itm} rescorer's explanation carries them:
 * each part is the explanation node whose description starts with its {@link #key()} and a colon
 * ({@code "itm: ITM match logit of ..."}), its value the part's. That prefix is the documented way
 * to read the parts (docs/scores.md); the rest of each description is for people and may change.
 */
public enum ScorePart {
    /** The fusion encoder's ITM match logit ({@code itm_logits[:, 1]}). */
    ITM("itm"),
    /** The dot product of the query embedding and the document's stored ITC vector. */
    ITC("itc");

    private final String key;

    ScorePart(String key) {
        this.key = key;
    }

    public String key() {
        return key;
    }

    /** The description of this part's explanation node: the key, a colon, then {@code text}. */
    public String describe(String text) {
        return key + ": " + text;
    }

    /** Whether an explanation node with {@code description} holds this part. */
    public boolean describes(String description) {
        return description != null && description.startsWith(key + ": ");
    }
}
