package io.fuserank.encoder;

import java.util.Arrays;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * How a decoded image becomes the model's input size: the values of a bundle manifest's
 * {@code image.resize}, the same names as {@code data.RESIZE_RULES} in the training code.
 *
 * <ul>
 *   <li>{@code bilinear_half_pixel_no_antialias}: ours, {@code data.resize_bilinear}, float32
 *       ({@link ImagePreprocessor#resizeBilinear}); images much larger than the input are
 *       decoded subsampled ({@link ImagePreprocessor#subsampleStep}).</li>
 *   <li>{@code pil_bilinear}, {@code pil_bicubic}, {@code pil_lanczos}: PIL's
 *       {@code Image.resize} with that filter, byte for byte ({@link PilResample}), as imported
 *       checkpoints were trained (BLIP's image processor and ALBEF's test transform use bicubic).
 *       Never subsampled: thinning would change the pixels the source model saw, and the pixel
 *       limit and memory budget bound the decoding memory already.</li>
 * </ul>
 */
public enum ResizeRule {
    BILINEAR_HALF_PIXEL("bilinear_half_pixel_no_antialias", null),
    PIL_BILINEAR("pil_bilinear", PilResample.Filter.BILINEAR),
    PIL_BICUBIC("pil_bicubic", PilResample.Filter.BICUBIC),
    PIL_LANCZOS("pil_lanczos", PilResample.Filter.LANCZOS);

    private final String manifestName;
    private final PilResample.Filter pilFilter;

    ResizeRule(String manifestName, PilResample.Filter pilFilter) {
        this.manifestName = manifestName;
        this.pilFilter = pilFilter;
    }

    /** The value of {@code image.resize} that names this rule. */
    public String manifestName() {
        return manifestName;
    }

    /** The rule whose manifest name is {@code value}, if there is one. */
    public static Optional<ResizeRule> byManifestName(String value) {
        return Arrays.stream(values()).filter(rule -> rule.manifestName.equals(value)).findFirst();
    }

    /** Every rule's manifest name, comma-separated, for error messages. */
    static String manifestNames() {
        return Arrays.stream(values()).map(ResizeRule::manifestName).collect(Collectors.joining(", "));
    }

    /** Whether an image much larger than the input may be decoded subsampled: only for our own rule. */
    boolean subsamples() {
        return pilFilter == null;
    }

    /** {@code rgb} resized to {@code height x width}, HWC floats holding 0..255. */
    float[] resize(ImagePreprocessor.Rgb rgb, int height, int width) {
        if (pilFilter == null) {
            return ImagePreprocessor.resizeBilinear(rgb, height, width);
        }
        byte[] resized = PilResample.resize(rgb.pixels(), rgb.width(), rgb.height(), width, height, pilFilter);
        float[] out = new float[resized.length];
        for (int i = 0; i < resized.length; i++) {
            out[i] = resized[i] & 0xFF;
        }
        return out;
    }
}
