package io.fuserank.tools;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Set;
import java.util.Spliterator;
import java.util.Spliterators;
import java.util.stream.Stream;
import java.util.stream.StreamSupport;

/**
 * A JSON Lines file, one image per line: {@code {"id": "...", "path": "rel/or/abs.jpg", ...}}.
 * {@code path} is required and resolved against the image root (by default the file's own
 * directory); {@code id} (a string or an integer) is optional and defaults to
 * {@link DocumentIds#forPath} of the path; every other field goes into the document unchanged
 * (captions, titles, tags). Read lazily, so a million-line file costs one line of memory; each
 * malformed line becomes a {@link SourceEntry.Bad} naming its line number.
 */
final class JsonlSource implements EntrySource {

    /** Fields the indexer writes itself; a line may not bring its own. */
    static final Set<String> RESERVED = Set.of(IndexKind.IMAGE.sourceField(), IndexKind.IMAGE.vectorField(), IndexKind.IMAGE.featuresField());

    /** Elasticsearch's limit on {@code _id}. */
    static final int MAX_ID_BYTES = 512;

    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path file;
    private final Path imageRoot;

    JsonlSource(Path file, Path imageRoot) {
        this.file = file;
        this.imageRoot = imageRoot;
    }

    @Override
    public String describe() {
        return "jsonl [" + file + "] (paths relative to [" + imageRoot + "])";
    }

    @Override
    public long size() throws IOException {
        try (Stream<String> lines = Files.lines(file, StandardCharsets.UTF_8)) {
            return lines.filter(line -> !line.isBlank()).count();
        }
    }

    @Override
    public Stream<SourceEntry> entries() throws IOException {
        BufferedReader reader = Files.newBufferedReader(file, StandardCharsets.UTF_8);
        Iterator<SourceEntry> lines = new Iterator<>() {
            private long number;
            private SourceEntry next = advance();

            private SourceEntry advance() {
                try {
                    for (String line; (line = reader.readLine()) != null; ) {
                        number++;
                        if (!line.isBlank()) {
                            return parse(line, number);
                        }
                    }
                    return null;
                } catch (IOException e) {
                    throw new UncheckedIOException("cannot read [" + file + "] after line [" + number + "]", e);
                }
            }

            @Override
            public boolean hasNext() {
                return next != null;
            }

            @Override
            public SourceEntry next() {
                if (next == null) {
                    throw new NoSuchElementException();
                }
                SourceEntry current = next;
                next = advance();
                return current;
            }
        };
        return StreamSupport.stream(Spliterators.spliteratorUnknownSize(lines, Spliterator.ORDERED | Spliterator.NONNULL), false)
            .onClose(() -> {
                try {
                    reader.close();
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
    }

    /** One non-blank line to an entry. */
    SourceEntry parse(String line, long number) {
        String where = String.format(Locale.ROOT, "[%s] line [%d]: ", file, number);
        JsonNode node;
        try {
            node = JSON.readTree(line);
        } catch (JsonProcessingException e) {
            return bad(null, null, where + "not valid JSON: " + e.getOriginalMessage());
        }
        if (!node.isObject()) {
            return bad(null, null, where + "not a JSON object but [" + node.getNodeType().name().toLowerCase(Locale.ROOT) + "]");
        }
        JsonNode pathNode = node.get("path");
        JsonNode idNode = node.get("id");
        String id = idNode != null && (idNode.isTextual() || idNode.isIntegralNumber()) ? idNode.asText() : null;
        if (pathNode == null || !pathNode.isTextual() || pathNode.asText().isBlank()) {
            return bad(id, null, where + "[path] must be a non-empty string, got [" + pathNode + "]");
        }
        String path = pathNode.asText();
        if (idNode != null && id == null) {
            return bad(null, path, where + "[id] must be a string or an integer, got [" + idNode + "]");
        }
        if (id != null && (id.isEmpty() || id.getBytes(StandardCharsets.UTF_8).length > MAX_ID_BYTES)) {
            return bad(null, path, where + "[id] must have 1 to " + MAX_ID_BYTES + " bytes, got ["
                + id.getBytes(StandardCharsets.UTF_8).length + "]");
        }
        Map<String, Object> fields = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> field : node.properties()) {
            if (RESERVED.contains(field.getKey())) {
                return bad(id, path, where + "field [" + field.getKey() + "] is written by the indexer, a line may not set it");
            }
            if (!field.getKey().equals("id") && !field.getKey().equals("path")) {
                fields.put(field.getKey(), field.getValue());
            }
        }
        return new SourceEntry.Image(id != null ? id : DocumentIds.forPath(path), path, imageRoot.resolve(path), fields);
    }

    private static SourceEntry bad(String id, String path, String reason) {
        return new SourceEntry.Bad(id, path, FailureCode.BAD_ENTRY.reason(reason));
    }
}
