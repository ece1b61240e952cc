package io.fuserank.encoder;

import java.util.Locale;

/**
 * The aspect-keeping resize of ViLT's and BridgeTower's Hugging Face image processors
 * ({@code get_resize_output_image_size} in {@code image_processing_vilt.py} and
 * {@code image_processing_bridgetower.py}), then BridgeTower's center crop
 * ({@code transformers.image_transforms.center_crop}). The manifest's {@code image.shortest_edge},
 * {@code image.longest_edge} and {@code image.size_divisor} name it.
 *
 * <p>The shorter side goes to {@code shortestEdge}, the longer one in proportion; if that makes the
 * longer side exceed {@code longestEdge} both shrink until it fits; each side is then rounded half up
 * and floored to a multiple of {@code sizeDivisor}. The arithmetic is Python's float (double)
 * arithmetic, step for step, so the output size is the processor's for every input size. A crop
 * to the model's input takes the centre window ({@code (in - out) // 2} from the top left) and pads
 * with zeros (pixel value 0, before normalisation) where the resized image is smaller, placing it
 * {@code ceil((out - in) / 2)} from the top left, as the processor does.
 */
public record ShortestEdgeResize(int shortestEdge, int longestEdge, int sizeDivisor) {

    public ShortestEdgeResize {
        if (shortestEdge < 1 || longestEdge < shortestEdge || sizeDivisor < 1 || sizeDivisor > shortestEdge) {
            throw new IllegalArgumentException(String.format(Locale.ROOT,
                "a shortest-edge resize needs 1 <= size_divisor <= shortest_edge <= longest_edge, got [%d], [%d], [%d]",
                sizeDivisor, shortestEdge, longestEdge));
        }
    }

    /**
     * The resized {@code {height, width}} of a {@code height x width} image. An image so elongated
     * that a side rounds to less than {@code sizeDivisor} (a 1 x 1000 strip) has no output size:
     * the processor would fail on it too.
     *
     * @throws ImageDecodeException ({@link ImageDecodeException.Reason#UNSUPPORTED_SHAPE}) naming the size
     */
    public int[] outputSize(long height, long width) throws ImageDecodeException {
        double scale = (double) shortestEdge / Math.min(height, width);
        double newHeight;
        double newWidth;
        if (height < width) {
            newHeight = shortestEdge;
            newWidth = scale * width;
        } else {
            newHeight = scale * height;
            newWidth = shortestEdge;
        }
        if (Math.max(newHeight, newWidth) > longestEdge) {
            scale = longestEdge / Math.max(newHeight, newWidth);
            newHeight = scale * newHeight;
            newWidth = scale * newWidth;
        }
        long roundedHeight = (long) (newHeight + 0.5) / sizeDivisor * sizeDivisor;
        long roundedWidth = (long) (newWidth + 0.5) / sizeDivisor * sizeDivisor;
        if (roundedHeight < 1 || roundedWidth < 1) {
            throw new ImageDecodeException(ImageDecodeException.Reason.UNSUPPORTED_SHAPE, String.format(Locale.ROOT,
                "a [%d x %d] image (width x height) resizes to [%d x %d] with shortest_edge [%d], longest_edge [%d] and "
                    + "size_divisor [%d]: it is too elongated for this model", width, height, roundedWidth, roundedHeight,
                shortestEdge, longestEdge, sizeDivisor));
        }
        return new int[] {(int) roundedHeight, (int) roundedWidth};
    }

    /**
     * The {@code outHeight x outWidth} centre window of HWC pixels {@code in} ({@code height x width}),
     * zeros where the window reaches past the image.
     */
    static float[] centerCrop(float[] in, int height, int width, int outHeight, int outWidth) {
        if (height == outHeight && width == outWidth) {
            return in;
        }
        float[] out = new float[outHeight * outWidth * 3];
        // Source row/column of output (0, 0): the crop offset, minus the padding offset where padded.
        int top = offset(height, outHeight);
        int left = offset(width, outWidth);
        for (int y = 0; y < outHeight; y++) {
            int sy = y + top;
            if (sy < 0 || sy >= height) {
                continue;
            }
            int from = Math.max(0, -left);
            int to = Math.min(outWidth, width - left);
            if (to > from) {
                System.arraycopy(in, (sy * width + from + left) * 3, out, (y * outWidth + from) * 3, (to - from) * 3);
            }
        }
        return out;
    }

    /** Source index of output index 0 along one axis: {@code (in - out) // 2} when cropping, {@code -ceil((out - in) / 2)} when padding. */
    private static int offset(int in, int out) {
        return in >= out ? (in - out) / 2 : -((out - in + 1) / 2);
    }
}
