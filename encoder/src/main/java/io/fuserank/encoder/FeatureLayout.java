package io.fuserank.encoder;

import java.util.Locale;

/**
 * The shape a model's token features of one modality must have: {@code layers} feature layers of
 * {@code minTokens..maxTokens} tokens of {@code width} channels. An image always has the manifest's
 * image token count ([CLS] + patches); a caption has 1 to the tokenizer's maximum. A stored blob is
 * checked against it from its header alone ({@link FeatureCodec#header(byte[], FeatureLayout)}),
 * before anything is allocated for its values, so a blob of another model or modality, or one whose
 * header claims an absurd size, never reaches the fusion encoder.
 */
public record FeatureLayout(int layers, int minTokens, int maxTokens, int width) {

    public FeatureLayout {
        if (layers < 1 || minTokens < 1 || maxTokens < minTokens || width < 1) {
            throw new IllegalArgumentException(String.format(Locale.ROOT,
                "a feature layout needs positive layers and width and 1 <= minTokens <= maxTokens, got [%d x %d..%d x %d]",
                layers, minTokens, maxTokens, width));
        }
    }

    /** The layout of an image's features: exactly {@code tokens} tokens per layer. */
    public static FeatureLayout image(int layers, int tokens, int width) {
        return new FeatureLayout(layers, tokens, tokens, width);
    }

    /** The layout of a caption's features: 1 to {@code maxTokens} tokens per layer. */
    public static FeatureLayout text(int layers, int maxTokens, int width) {
        return new FeatureLayout(layers, 1, maxTokens, width);
    }

    /** Whether features of this shape fit the layout. */
    public boolean fits(int layers, int tokens, int width) {
        return layers == this.layers && width == this.width && tokens >= minTokens && tokens <= maxTokens;
    }

    /** Whether a blob with this header fits the layout. */
    public boolean fits(FeatureCodec.Header header) {
        return fits(header.layers(), header.tokens(), header.width());
    }

    /** The most values one item of this layout has: {@code layers x maxTokens x width}. */
    public int maxValues() {
        return Math.multiplyExact(Math.multiplyExact(layers, maxTokens), width);
    }

    /** {@code [layers x tokens x width]}, the token count as a range where it varies. */
    @Override
    public String toString() {
        String tokens = minTokens == maxTokens ? Integer.toString(maxTokens) : minTokens + ".." + maxTokens;
        return "[" + layers + " x " + tokens + " x " + width + "]";
    }
}
