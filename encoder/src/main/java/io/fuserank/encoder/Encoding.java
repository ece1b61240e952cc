package io.fuserank.encoder;

/**
 * One encoded image or text: the L2-normalised ITC embedding (the vector indexed in the
 * {@code dense_vector} field; null for a model without ITC, {@link ModelBundle#hasEmbedding()}), the token features the fusion encoder attends to (null where the
 * encoder graph has no {@code token_features} output, as an imported BLIP text encoder), and, for
 * a text, its token ids without padding (null for an image).
 */
public record Encoding(float[] embedding, TokenFeatures tokenFeatures, long[] tokenIds) {

    /** An encoding without token ids: an image's. */
    public Encoding(float[] embedding, TokenFeatures tokenFeatures) {
        this(embedding, tokenFeatures, null);
    }
}
