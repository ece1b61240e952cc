package io.fuserank.encoder;

/**
 * One encoded image or text: the L2-normalised ITC embedding (the vector indexed in the
 * {@code dense_vector} field) and the token features the fusion encoder attends to.
 */
public record Encoding(float[] embedding, TokenFeatures tokenFeatures) {
}
