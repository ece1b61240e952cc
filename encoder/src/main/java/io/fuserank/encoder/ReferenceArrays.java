package io.fuserank.encoder;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.StreamSupport;

/**
 * The reference inputs and outputs {@code export.py} writes into a bundle
 * ({@code reference/reference.json} + raw little-endian arrays): what the Java parity tests and
 * the benchmarks' ParityReport compare the runtime against.
 */
public final class ReferenceArrays {

    private final Path directory;
    private final JsonNode index;

    public ReferenceArrays(Path bundleDirectory) throws IOException {
        this.directory = bundleDirectory.resolve("reference");
        this.index = new ObjectMapper().readTree(directory.resolve("reference.json").toFile());
    }

    public int[] shape(String name) {
        return StreamSupport.stream(array(name).path("shape").spliterator(), false).mapToInt(JsonNode::asInt).toArray();
    }

    public float[] floats(String name) throws IOException {
        ByteBuffer bytes = read(name, "float32");
        float[] out = new float[bytes.remaining() / 4];
        bytes.asFloatBuffer().get(out);
        return out;
    }

    public long[] longs(String name) throws IOException {
        ByteBuffer bytes = read(name, "int64");
        long[] out = new long[bytes.remaining() / 8];
        bytes.asLongBuffer().get(out);
        return out;
    }

    /** A float32 array of shape [n, tokens, width] as n one-layer token features (the reference image features). */
    public List<TokenFeatures> tokenFeatures(String name) throws IOException {
        int[] shape = shape(name);
        float[] values = floats(name);
        int per = shape[1] * shape[2];
        List<TokenFeatures> out = new ArrayList<>();
        for (int i = 0; i < shape[0]; i++) {
            out.add(new TokenFeatures(1, shape[1], shape[2], java.util.Arrays.copyOfRange(values, i * per, (i + 1) * per)));
        }
        return out;
    }

    public List<String> captions() {
        List<String> out = new ArrayList<>();
        index.path("captions").forEach(c -> out.add(c.asText()));
        return out;
    }

    public List<Path> images() {
        List<Path> out = new ArrayList<>();
        index.path("images").forEach(p -> out.add(directory.getParent().resolve(p.asText())));
        return out;
    }

    private JsonNode array(String name) {
        JsonNode node = index.path("arrays").path(name);
        if (node.isMissingNode()) {
            throw new IllegalArgumentException("reference has no array [" + name + "]");
        }
        return node;
    }

    private ByteBuffer read(String name, String dtype) throws IOException {
        JsonNode node = array(name);
        if (!dtype.equals(node.path("dtype").asText())) {
            throw new IllegalArgumentException("reference array [" + name + "] is [" + node.path("dtype").asText() + "], not [" + dtype + "]");
        }
        return ByteBuffer.wrap(Files.readAllBytes(directory.resolve(node.path("file").asText()))).order(ByteOrder.LITTLE_ENDIAN);
    }

    /** Largest absolute difference of two equally long arrays. */
    public static double maxAbsDiff(float[] a, int aOffset, float[] b, int bOffset, int length) {
        double max = 0;
        for (int i = 0; i < length; i++) {
            max = Math.max(max, Math.abs(a[aOffset + i] - b[bOffset + i]));
        }
        return max;
    }

    public static double cosine(float[] a, float[] b, int bOffset) {
        double dot = 0, na = 0, nb = 0;
        for (int i = 0; i < a.length; i++) {
            dot += a[i] * b[bOffset + i];
            na += a[i] * a[i];
            nb += b[bOffset + i] * b[bOffset + i];
        }
        return dot / Math.sqrt(na * nb);
    }
}
