package io.fuserank.encoder;

import java.util.Locale;

/**
 * Token features of one image or one text, the fusion encoder's cross-attention input.
 *
 * <p>{@code values} is {@code [layers, tokens, width]} row-major, layer-major as the manifest's
 * {@code token_features.layout} says: one layer for ALBEF, the top uni-modal layers for
 * BridgeTower bridges. {@code tokens} counts real tokens only (a text's padding is dropped).
 */
public record TokenFeatures(int layers, int tokens, int width, float[] values) {

    public TokenFeatures {
        if (layers < 1 || tokens < 1 || width < 1) {
            throw new IllegalArgumentException(String.format(Locale.ROOT,
                "token features need positive layers, tokens and width, got [%d, %d, %d]", layers, tokens, width));
        }
        if (values.length != (long) layers * tokens * width) {
            throw new IllegalArgumentException(String.format(Locale.ROOT,
                "token features [%d x %d x %d] need [%d] values, got [%d]", layers, tokens, width,
                (long) layers * tokens * width, values.length));
        }
    }

    /** The value of one layer's token at one channel. */
    public float get(int layer, int token, int channel) {
        return values[(layer * tokens + token) * width + channel];
    }
}
