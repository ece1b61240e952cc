package io.fuserank.tools;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Stream;

/**
 * A Karpathy-format annotation file as ALBEF ships them for Flickr30K and COCO,
 * {@code [{"image": "rel/path.jpg", "caption": ["...", ...]}, ...]} with paths relative to an image
 * root, parsed and checked once for either of its two views as a source: {@link #images} (one
 * document per image) and {@link #captions} (one document per caption). Test and validation
 * files give each image once with a list of captions; training files give one entry per caption
 * ({@code "caption": "..."}), repeating the image. Entries of the same image are merged, in file
 * order, so the file is read whole up front (an image and its captions cost a few hundred bytes:
 * COCO's 123k images fit easily).
 *
 * @param annotations      the file, for messages
 * @param bad              the entries that are not {@code {"image": string, "caption": string | [string, ...]}}
 * @param captionsByImage  each image's normalised relative path and its captions, in file order
 */
record KarpathyFile(Path annotations, List<BadEntry> bad, Map<String, List<String>> captionsByImage) {

    /**
     * An entry that names no usable image or captions.
     *
     * @param path   the entry's normalised image path, or null when it has none
     * @param reason {@code BAD_ENTRY: } and where the entry is and what is wrong with it
     */
    record BadEntry(String path, String reason) {
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * Reads and checks the whole file. A file that is not a JSON array is an
     * {@link IllegalArgumentException} naming the line; a bad entry becomes a {@link BadEntry}
     * naming its position and line.
     */
    static KarpathyFile read(Path annotations) throws IOException {
        Map<String, List<String>> captionsByImage = new LinkedHashMap<>();
        List<BadEntry> bad = new ArrayList<>();
        try (JsonParser parser = JSON.createParser(annotations.toFile())) {
            JsonToken first = parser.nextToken();
            if (first != JsonToken.START_ARRAY) {
                throw new IllegalArgumentException(String.format(Locale.ROOT,
                    "[%s] is not a JSON array of {\"image\", \"caption\"} entries: it starts with [%s]", annotations,
                    first == null ? "nothing" : parser.getText()));
            }
            for (int position = 0; parser.nextToken() != JsonToken.END_ARRAY; position++) {
                if (parser.currentToken() == null) {
                    throw new IllegalArgumentException("[" + annotations + "] ends before its array is closed");
                }
                long line = parser.currentTokenLocation().getLineNr();
                JsonNode entry = JSON.readTree(parser);
                String problem = problem(entry);
                JsonNode image = entry.path("image");
                String path = image.isTextual() && !image.asText().isBlank() ? DocumentIds.normalize(image.asText()) : null;
                if (problem != null) {
                    String where = String.format(Locale.ROOT, "[%s] entry [%d] at line [%d]: ", annotations, position, line);
                    bad.add(new BadEntry(path, FailureCode.BAD_ENTRY.reason(where + problem)));
                    continue;
                }
                List<String> captions = captionsByImage.computeIfAbsent(path, p -> new ArrayList<>());
                JsonNode caption = entry.path("caption");
                if (caption.isTextual()) {
                    captions.add(caption.asText());
                } else {
                    caption.forEach(c -> captions.add(c.asText()));
                }
            }
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(String.format(Locale.ROOT, "[%s] is not valid JSON at line [%d]: %s",
                annotations, e.getLocation() == null ? -1 : e.getLocation().getLineNr(), e.getOriginalMessage()), e);
        }
        captionsByImage.replaceAll((path, captions) -> List.copyOf(captions));
        return new KarpathyFile(annotations, List.copyOf(bad), Collections.unmodifiableMap(captionsByImage));
    }

    /**
     * The file as images (the default kind): one entry per image with all its captions in
     * {@code captions}, the file read from {@code imageRoot}; a bad entry's dead letter has the id
     * its image would have had.
     */
    EntrySource images(Path imageRoot) {
        List<SourceEntry> entries = new ArrayList<>();
        bad.forEach(b -> entries.add(new SourceEntry.Bad(b.path() == null ? null : DocumentIds.forPath(b.path()), b.path(), b.reason())));
        captionsByImage.forEach((path, captions) -> entries.add(new SourceEntry.Image(
            DocumentIds.forPath(path), path, imageRoot.resolve(path), Map.of(IndexDocument.CAPTIONS, captions))));
        return new Listed(String.format(Locale.ROOT, "karpathy [%s] (%d images)", annotations, captionsByImage.size()), entries);
    }

    /**
     * The file as captions ({@code --kind caption}, for image-to-text search): one entry per
     * caption, in file order. No image is read; each caption keeps its image's relative path and
     * its position among that image's captions, which also make its id
     * ({@link DocumentIds#forCaption}). A bad entry has no single caption to name, so its dead
     * letter has no id.
     */
    EntrySource captions() {
        List<SourceEntry> entries = new ArrayList<>();
        bad.forEach(b -> entries.add(new SourceEntry.Bad(null, b.path(), b.reason())));
        captionsByImage.forEach((path, captions) -> {
            for (int i = 0; i < captions.size(); i++) {
                entries.add(new SourceEntry.Caption(DocumentIds.forCaption(path, i), path, i, captions.get(i)));
            }
        });
        return new Listed(String.format(Locale.ROOT, "karpathy captions [%s] (%d captions of %d images)", annotations,
            entries.size() - bad.size(), captionsByImage.size()), entries);
    }

    /** A view's entries, made up front (the file is in memory anyway). */
    private record Listed(String describe, List<SourceEntry> list) implements EntrySource {

        @Override
        public long size() {
            return list.size();
        }

        @Override
        public Stream<SourceEntry> entries() {
            return list.stream();
        }
    }

    /** What is wrong with an entry, or null. */
    private static String problem(JsonNode entry) {
        if (!entry.isObject()) {
            return "not an object but [" + entry.getNodeType().name().toLowerCase(Locale.ROOT) + "]";
        }
        JsonNode image = entry.get("image");
        if (image == null || !image.isTextual() || image.asText().isBlank()) {
            return "[image] must be a non-empty string (the path relative to the image root), got [" + image + "]";
        }
        JsonNode caption = entry.get("caption");
        if (caption == null || caption.isTextual()) {
            return null;
        }
        if (caption.isArray()) {
            for (JsonNode c : caption) {
                if (!c.isTextual()) {
                    return "[caption] must be a string or an array of strings, it holds [" + c + "]";
                }
            }
            return null;
        }
        return "[caption] must be a string or an array of strings, got [" + caption + "]";
    }
}
