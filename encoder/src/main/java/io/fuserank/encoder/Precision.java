package io.fuserank.encoder;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * The numeric precision of a bundle's graphs: the fp32 graphs every bundle has ({@code graphs}),
 * or the int8 ones that ONNX Runtime's quantization tooling made beside them
 * ({@code precisions.int8}, {@code encoder/training/quantize.py}), which this CPU's VNNI and AMX
 * units run several times faster. One name per precision, the {@link #label()}, in the manifest,
 * the plugin's {@code fuserank.inference.precision} setting and the CLI's {@code --precision}.
 */
public enum Precision {
    FP32, INT8;

    /** {@code fp32} or {@code int8}. */
    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** The precision named {@code label}; an IllegalArgumentException listing the valid names otherwise. */
    public static Precision fromLabel(String label) {
        for (Precision p : values()) {
            if (p.label().equals(label)) {
                return p;
            }
        }
        throw new IllegalArgumentException("unknown precision [" + label + "], valid: " + labels());
    }

    /** {@code [fp32, int8]}, for error messages. */
    public static String labels() {
        return Arrays.stream(values()).map(Precision::label).collect(Collectors.joining(", ", "[", "]"));
    }
}
