package io.fuserank.tools;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Stream;

/**
 * A Karpathy-format annotation file as ALBEF ships them for Flickr30K and COCO:
 * {@code [{"image": "rel/path.jpg", "caption": ["...", ...]}, ...]} with paths relative to an image
 * root. Test and validation files give each image once with a list of captions; training files
 * give one entry per caption ({@code "caption": "..."}), repeating the image. Entries of the same
 * image are merged into one document with all its captions, so the file is read whole up front
 * (an image and its captions cost a few hundred bytes: COCO's 123k images fit easily).
 */
final class KarpathySource implements ImageSource {

    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path annotations;
    private final List<SourceEntry> entries;
    private final int images;

    private KarpathySource(Path annotations, List<SourceEntry> entries, int images) {
        this.annotations = annotations;
        this.entries = entries;
        this.images = images;
    }

    /**
     * Reads and checks the whole file. A file that is not a JSON array is an
     * {@link IllegalArgumentException} naming the line; an entry that is not
     * {@code {"image": string, "caption": string | [string, ...]}} becomes a
     * {@link SourceEntry.Bad} naming its position and line.
     */
    static KarpathySource read(Path annotations, Path imageRoot) throws IOException {
        Map<String, List<String>> captionsByImage = new LinkedHashMap<>();
        List<SourceEntry> bad = new ArrayList<>();
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
                    bad.add(new SourceEntry.Bad(path == null ? null : DocumentIds.forPath(path), path,
                        FailureCode.BAD_ENTRY.reason(where + problem)));
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
        List<SourceEntry> entries = new ArrayList<>(bad);
        captionsByImage.forEach((path, captions) -> entries.add(new SourceEntry.Image(
            DocumentIds.forPath(path), path, imageRoot.resolve(path), Map.of("captions", captions))));
        return new KarpathySource(annotations, List.copyOf(entries), captionsByImage.size());
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

    @Override
    public String describe() {
        return String.format(Locale.ROOT, "karpathy [%s] (%d images)", annotations, images);
    }

    @Override
    public long size() {
        return entries.size();
    }

    @Override
    public Stream<SourceEntry> entries() {
        return entries.stream();
    }
}
