package io.fuserank.plugin.rescore;

import io.fuserank.encoder.FeatureCodec;
import io.fuserank.encoder.TokenFeatures;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * One {@code image_features} value for every way a stored blob can be unusable for the shipped
 * model, as a document id and its value (a blob, or a list of blobs for a multi-valued field), and
 * the start of the reason explain gives for each.
 */
final class DamagedBlobs {

    static final Map<String, String> REASONS = Map.ofEntries(
        Map.entry("bad-magic", "token-feature blob starts with [58 52], not the magic \"FR\""),
        Map.entry("bad-version", "token-feature blob has format version [2], this code reads [1]"),
        Map.entry("bad-codec", "token-feature blob has unknown codec id [3]"),
        Map.entry("truncated", "int8 token-feature blob [1 x 65 x 192] must have [12750] bytes, has [12749]"),
        Map.entry("other-width", "token-feature blob [1 x 65 x 256] fits no layout of model [fuserank-small]"),
        Map.entry("other-layers", "token-feature blob [2 x 65 x 192] fits no layout of model [fuserank-small]"),
        Map.entry("many-tokens", "token-feature blob [1 x 65535 x 192] fits no layout of model [fuserank-small]"),
        Map.entry("overflowing-header", "fp32 token-feature blob [255 x 65535 x 65535] must have [4380732949510] bytes, has [10]"),
        Map.entry("caption", "caption token features ("),
        Map.entry("nan", "fp32 token-feature blob has value [NaN] at layer [0] token [0] channel [0]"),
        Map.entry("infinite-scale", "int8 token-feature blob has scale [Infinity] at layer [0] token [0]"),
        Map.entry("huge-values", "the fusion encoder's ITM logit for these token features is [NaN]"),
        Map.entry("multi-valued", "[image_features] holds [2] values"));

    private DamagedBlobs() {
    }

    /** The damaged values, built from a good int8 image blob and a good int8 caption blob, by document id. */
    static Map<String, Object> imageBlobs(byte[] image, byte[] caption) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("bad-magic", patched(image, b -> b.put(0, (byte) 'X')));
        out.put("bad-version", patched(image, b -> b.put(2, (byte) 2)));
        out.put("bad-codec", patched(image, b -> b.put(3, (byte) 3)));
        out.put("truncated", Arrays.copyOf(image, image.length - 1));
        out.put("other-width", FeatureCodec.INT8.encode(new TokenFeatures(1, 65, 256, new float[65 * 256])));
        out.put("other-layers", FeatureCodec.INT8.encode(new TokenFeatures(2, 65, 192, new float[2 * 65 * 192])));
        // consistent: 65,535 int8 rows of zeros, 12.8 MB; padding a window to it once took an 805 MB buffer
        byte[] manyTokens = Arrays.copyOf(image, FeatureCodec.HEADER_BYTES + 65535 * (4 + 192));
        out.put("many-tokens", patched(manyTokens, b -> b.putShort(6, (short) 65535)));
        out.put("overflowing-header", patched(Arrays.copyOf(image, FeatureCodec.HEADER_BYTES),
            b -> b.put(3, (byte) 0).put(4, (byte) 255).putShort(6, (short) 65535).putShort(8, (short) 65535)));
        out.put("caption", caption);
        TokenFeatures features = FeatureCodec.decode(image);
        out.put("nan", patched(FeatureCodec.FP32.encode(features), b -> b.putFloat(FeatureCodec.HEADER_BYTES, Float.NaN)));
        out.put("infinite-scale", patched(image, b -> b.putFloat(FeatureCodec.HEADER_BYTES, Float.POSITIVE_INFINITY)));
        float[] huge = new float[features.values().length];
        Arrays.fill(huge, Float.MAX_VALUE);
        out.put("huge-values", FeatureCodec.FP32.encode(new TokenFeatures(1, 65, 192, huge)));
        out.put("multi-valued", List.of(image, patched(image, b -> b.put(FeatureCodec.HEADER_BYTES + 4, (byte) 1))));
        assert out.keySet().equals(REASONS.keySet());
        return out;
    }

    private static byte[] patched(byte[] blob, Consumer<ByteBuffer> change) {
        byte[] copy = blob.clone();
        change.accept(ByteBuffer.wrap(copy).order(ByteOrder.LITTLE_ENDIAN));
        return copy;
    }
}
