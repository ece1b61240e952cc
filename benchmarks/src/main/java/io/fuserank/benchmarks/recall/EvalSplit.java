package io.fuserank.benchmarks.recall;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * An evaluation split in the Flickr30K/COCO Karpathy layout ALBEF reads:
 * {@code [{"image": "rel/path.jpg", "caption": ["...", ...]}, ...]} with paths relative to an image
 * root. Entries naming the same image (the training layout, one caption per entry) are merged.
 * Images and captions are numbered in file order; {@link #captionImage} and {@link #imageCaptions}
 * are ALBEF's {@code txt2img} and {@code img2txt}.
 */
public record EvalSplit(Path imageRoot, List<String> imagePaths, List<String> captions, int[] captionImage,
                        int[][] imageCaptions) {

    public static EvalSplit load(Path annotations, Path imageRoot) throws IOException {
        JsonNode root = new ObjectMapper().readTree(annotations.toFile());
        if (root == null || root.isArray() == false) {
            throw new IOException(String.format(Locale.ROOT,
                "[%s] is not a JSON array of {\"image\", \"caption\"} entries", annotations));
        }
        Map<String, List<String>> byImage = new LinkedHashMap<>();
        for (int i = 0; i < root.size(); i++) {
            JsonNode entry = root.get(i);
            String image = entry.path("image").asText("");
            JsonNode caption = entry.path("caption");
            if (image.isEmpty() || (caption.isTextual() == false && caption.isArray() == false)) {
                throw new IOException(String.format(Locale.ROOT,
                    "[%s] entry [%d] needs a string \"image\" and a string or list \"caption\", got %s", annotations, i, entry));
            }
            List<String> captions = byImage.computeIfAbsent(image, k -> new ArrayList<>());
            if (caption.isTextual()) {
                captions.add(caption.asText());
            } else {
                caption.forEach(c -> captions.add(c.asText()));
            }
        }
        List<String> paths = new ArrayList<>(byImage.keySet());
        List<String> captions = new ArrayList<>();
        List<Integer> owner = new ArrayList<>();
        int[][] imageCaptions = new int[paths.size()][];
        for (int i = 0; i < paths.size(); i++) {
            List<String> own = byImage.get(paths.get(i));
            imageCaptions[i] = new int[own.size()];
            for (int c = 0; c < own.size(); c++) {
                imageCaptions[i][c] = captions.size();
                captions.add(own.get(c));
                owner.add(i);
            }
        }
        for (String path : paths) {
            if (Files.isRegularFile(imageRoot.resolve(path)) == false) {
                throw new IOException(String.format(Locale.ROOT, "image [%s] of [%s] is not a file under [%s]", path, annotations, imageRoot));
            }
        }
        return new EvalSplit(imageRoot, List.copyOf(paths), List.copyOf(captions),
            owner.stream().mapToInt(Integer::intValue).toArray(), imageCaptions);
    }

    /** The first {@code maxImages} images and their captions (all when {@code maxImages} is 0 or more than there are). */
    public EvalSplit limit(int maxImages) {
        if (maxImages <= 0 || maxImages >= imagePaths.size()) {
            return this;
        }
        int captionCount = imageCaptions[maxImages - 1][imageCaptions[maxImages - 1].length - 1] + 1;
        return new EvalSplit(imageRoot, imagePaths.subList(0, maxImages), captions.subList(0, captionCount),
            Arrays.copyOf(captionImage, captionCount), Arrays.copyOf(imageCaptions, maxImages));
    }

    /**
     * The split without {@code images} (indices into this split) and their captions, renumbered
     * in file order: what is left to evaluate when some images cannot be indexed.
     */
    public EvalSplit without(Set<Integer> images) {
        List<String> paths = new ArrayList<>();
        List<String> kept = new ArrayList<>();
        List<Integer> owner = new ArrayList<>();
        List<int[]> imageCaptionsKept = new ArrayList<>();
        for (int i = 0; i < imagePaths.size(); i++) {
            if (images.contains(i)) {
                continue;
            }
            int[] own = new int[imageCaptions[i].length];
            for (int c = 0; c < own.length; c++) {
                own[c] = kept.size();
                kept.add(captions.get(imageCaptions[i][c]));
                owner.add(paths.size());
            }
            imageCaptionsKept.add(own);
            paths.add(imagePaths.get(i));
        }
        return new EvalSplit(imageRoot, List.copyOf(paths), List.copyOf(kept),
            owner.stream().mapToInt(Integer::intValue).toArray(), imageCaptionsKept.toArray(int[][]::new));
    }

    /** Writes the split as Karpathy-format annotations (for the CLI, when {@link #limit} cut it) and returns the path. */
    public Path writeKarpathy(Path file) throws IOException {
        ObjectMapper json = new ObjectMapper();
        var array = json.createArrayNode();
        for (int i = 0; i < imagePaths.size(); i++) {
            var entry = array.addObject().put("image", imagePaths.get(i));
            var list = entry.putArray("caption");
            for (int caption : imageCaptions[i]) {
                list.add(captions.get(caption));
            }
        }
        json.writeValue(file.toFile(), array);
        return file;
    }

    public Path imageFile(int image) {
        return imageRoot.resolve(imagePaths.get(image));
    }
}
