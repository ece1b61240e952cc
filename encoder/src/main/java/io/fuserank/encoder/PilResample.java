package io.fuserank.encoder;

import java.util.Arrays;
import java.util.Locale;

/**
 * PIL's convolution resampling of 8-bit RGB ({@code Image.resize((w, h), filter)} on a mode
 * "RGB" image with Pillow's defaults: whole-image box, {@code reducing_gap=None}), reproduced
 * byte for byte so that imported checkpoints see the pixels they were trained on: BLIP's
 * image processor and ALBEF's {@code transforms.Resize(..., BICUBIC)} both resize PIL images
 * this way.
 *
 * <p>The algorithm, as Pillow documents it ("convolution-based resampling"; the filter's
 * support grows with the downscale factor, so downsampling antialiases):
 *
 * <ol>
 *   <li>Per axis, {@code scale = in / out} and {@code filterScale = max(scale, 1)}; the filter
 *       is stretched by {@code filterScale} and its support is {@code filter.support * filterScale}.</li>
 *   <li>Output pixel {@code i} is centred at {@code (i + 0.5) * scale} in source coordinates;
 *       the source pixels it reads run from {@code trunc(center - support + 0.5)} to
 *       {@code trunc(center + support + 0.5)} (exclusive), clamped to the image, and source
 *       pixel {@code j} weighs {@code filter((j - center + 0.5) / filterScale)}. The weights
 *       are divided by their sum, so each output pixel's weights add up to 1 (edges included).</li>
 *   <li>The weights become fixed point with 22 fractional bits, rounded half away from zero.
 *       Each output value is {@code (2^21 + sum(v * w)) >> 22} in 32-bit integers, clamped to
 *       0..255: the result is 8-bit after each pass.</li>
 *   <li>Horizontal pass first, then vertical; an axis whose size does not change is not
 *       resampled (its weights would be the identity anyway).</li>
 * </ol>
 *
 * <p>The weights are computed in double precision in the same operation order as Pillow,
 * so their fixed-point values, and therefore the bytes, are equal to Pillow's. Lanczos' sine
 * comes from {@link StrictMath#sin} (fdlibm); a libm sine differing in the last bit could move
 * a weight across a rounding boundary, which the fixtures have not shown.
 */
public final class PilResample {

    /** Fractional bits of the fixed-point weights: 32 bits less 8 for the value and 2 for overshoot. */
    static final int PRECISION_BITS = 32 - 8 - 2;

    private static final int HALF = 1 << (PRECISION_BITS - 1);

    /** The convolution kernels, each with its support at scale 1 (PIL's {@code Image.Resampling} of the same name). */
    public enum Filter {
        /** Triangle (tent) kernel, support 1. */
        BILINEAR(1.0) {
            @Override
            double weight(double x) {
                double d = Math.abs(x);
                return d < 1.0 ? 1.0 - d : 0.0;
            }
        },
        /** Keys' cubic convolution kernel with {@code a = -0.5}, support 2. */
        BICUBIC(2.0) {
            @Override
            double weight(double x) {
                final double a = -0.5;
                double d = Math.abs(x);
                if (d < 1.0) {
                    return ((a + 2.0) * d - (a + 3.0)) * d * d + 1;
                }
                if (d < 2.0) {
                    return (((d - 5) * d + 8) * d - 4) * a;
                }
                return 0.0;
            }
        },
        /** Sinc windowed by a sinc three times wider, support 3. */
        LANCZOS(3.0) {
            @Override
            double weight(double x) {
                return -3.0 <= x && x < 3.0 ? sinc(x) * sinc(x / 3) : 0.0;
            }
        };

        private final double support;

        Filter(double support) {
            this.support = support;
        }

        /** The kernel's value at {@code x}, in units of the (stretched) source pixel spacing. */
        abstract double weight(double x);

        private static double sinc(double x) {
            if (x == 0.0) {
                return 1.0;
            }
            double px = x * Math.PI;
            return StrictMath.sin(px) / px;
        }
    }

    /**
     * The source range and fixed-point weights of every output pixel along one axis:
     * output {@code i} reads {@code count[i]} source pixels from {@code first[i]}, weighted by
     * {@code weights[i * stride ...]}.
     */
    record AxisWeights(int[] first, int[] count, int stride, int[] weights) {

        static AxisWeights of(int in, int out, Filter filter) {
            double scale = (double) in / out;
            double filterScale = Math.max(scale, 1.0);
            double support = filter.support * filterScale;
            int stride = (int) Math.ceil(support) * 2 + 1;
            int[] first = new int[out];
            int[] count = new int[out];
            int[] weights = new int[Math.multiplyExact(out, stride)];
            double[] w = new double[stride];
            double inverse = 1.0 / filterScale;
            for (int i = 0; i < out; i++) {
                double center = (i + 0.5) * scale;
                int lo = Math.max((int) (center - support + 0.5), 0);
                int hi = Math.min((int) (center + support + 0.5), in);
                int n = hi - lo;
                double sum = 0.0;
                for (int j = 0; j < n; j++) {
                    w[j] = filter.weight((j + lo - center + 0.5) * inverse);
                    sum += w[j];
                }
                for (int j = 0; j < n; j++) {
                    double normalised = sum != 0.0 ? w[j] / sum : w[j];
                    weights[i * stride + j] = toFixed(normalised);
                }
                first[i] = lo;
                count[i] = n;
            }
            return new AxisWeights(first, count, stride, weights);
        }

        /** {@code w * 2^22} rounded half away from zero, truncated to an int as C's cast does. */
        private static int toFixed(double w) {
            double scaled = w * (1 << PRECISION_BITS);
            return (int) (w < 0 ? scaled - 0.5 : scaled + 0.5);
        }
    }

    private PilResample() {
    }

    /**
     * {@code rgb} ({@code width x height}, HWC, 3 bytes a pixel) resized to
     * {@code outWidth x outHeight} with {@code filter}, as 8-bit HWC RGB.
     *
     * @throws IllegalArgumentException if a size is not positive or the buffer does not match it
     */
    public static byte[] resize(byte[] rgb, int width, int height, int outWidth, int outHeight, Filter filter) {
        if (width < 1 || height < 1 || outWidth < 1 || outHeight < 1) {
            throw new IllegalArgumentException(String.format(Locale.ROOT,
                "sizes must be positive, got [%d x %d] to [%d x %d]", width, height, outWidth, outHeight));
        }
        if ((long) width * height * 3 != rgb.length) {
            throw new IllegalArgumentException(String.format(Locale.ROOT,
                "[%d x %d] RGB needs [%d] bytes, got [%d]", width, height, (long) width * height * 3, rgb.length));
        }
        byte[] rows = outWidth == width ? rgb : horizontal(rgb, width, height, AxisWeights.of(width, outWidth, filter));
        return outHeight == height ? rows : vertical(rows, outWidth, AxisWeights.of(height, outHeight, filter));
    }

    /** Each row resampled to {@code axis.count().length} pixels. */
    private static byte[] horizontal(byte[] in, int width, int height, AxisWeights axis) {
        int[] first = axis.first();
        int[] count = axis.count();
        int[] weights = axis.weights();
        int stride = axis.stride();
        int outWidth = first.length;
        byte[] out = new byte[Math.multiplyExact(height, outWidth * 3)];
        for (int y = 0; y < height; y++) {
            int row = y * width * 3;
            for (int x = 0; x < outWidth; x++) {
                int k = x * stride;
                int source = row + first[x] * 3;
                int r = HALF;
                int g = HALF;
                int b = HALF;
                for (int j = 0; j < count[x]; j++, source += 3) {
                    int w = weights[k + j];
                    r += (in[source] & 0xFF) * w;
                    g += (in[source + 1] & 0xFF) * w;
                    b += (in[source + 2] & 0xFF) * w;
                }
                int o = (y * outWidth + x) * 3;
                out[o] = clip8(r);
                out[o + 1] = clip8(g);
                out[o + 2] = clip8(b);
            }
        }
        return out;
    }

    /**
     * Each column of the {@code width}-pixel rows resampled to {@code axis.count().length} pixels,
     * accumulating whole source rows at a time (integer sums, so the order does not matter).
     */
    private static byte[] vertical(byte[] in, int width, AxisWeights axis) {
        int outHeight = axis.first().length;
        int rowBytes = width * 3;
        byte[] out = new byte[Math.multiplyExact(outHeight, rowBytes)];
        int[] sums = new int[rowBytes];
        for (int y = 0; y < outHeight; y++) {
            Arrays.fill(sums, HALF);
            int k = y * axis.stride();
            int first = axis.first()[y];
            for (int j = 0; j < axis.count()[y]; j++) {
                int w = axis.weights()[k + j];
                int source = (first + j) * rowBytes;
                for (int i = 0; i < rowBytes; i++) {
                    sums[i] += (in[source + i] & 0xFF) * w;
                }
            }
            int o = y * rowBytes;
            for (int i = 0; i < rowBytes; i++) {
                out[o + i] = clip8(sums[i]);
            }
        }
        return out;
    }

    /** The fixed-point sum as a byte: its integer part, clamped to 0..255. */
    private static byte clip8(int sum) {
        return (byte) Math.min(Math.max(sum >> PRECISION_BITS, 0), 255);
    }
}
