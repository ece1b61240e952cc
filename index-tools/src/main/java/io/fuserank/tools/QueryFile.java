package io.fuserank.tools;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Iterator;
import java.util.List;

/**
 * The queries of {@code fuserank search --queries FILE}, so that many queries cost one JVM, one
 * connection and one model load. One query a line: a line is a text query, unless it starts with
 * <code>{</code>, when it is a JSON object with exactly one of {@code "text"} (a text query) and
 * {@code "image"} (the path of an image file, relative to the working directory). Blank lines are
 * skipped; the queries are numbered from 0 in the order they appear, and the output names each by
 * that number. Pure: parsing only, no file is opened here.
 */
final class QueryFile {

    private QueryFile() {
    }

    /** One query: its number (from 0), the line it came from (from 1), and a text or an image path, exactly one non-null. */
    record Line(int index, int lineNumber, String text, Path image) {

        boolean isText() {
            return text != null;
        }

        /** The query {@code fuserank search} sends; an image query reads its file here. */
        SearchRequests.Query query() throws IOException {
            return isText() ? new SearchRequests.Query(text, null)
                : new SearchRequests.Query(null, Base64.getEncoder().encodeToString(Files.readAllBytes(image)));
        }
    }

    /**
     * The queries of a file's lines, in order. A line that is not a query (a JSON object without
     * exactly one non-empty {@code text} or {@code image} string, with other keys, or not JSON) is an
     * {@link IllegalArgumentException} naming its line number and what is wrong.
     */
    static List<Line> parse(List<String> lines) {
        List<Line> queries = new ArrayList<>();
        for (int n = 0; n < lines.size(); n++) {
            String line = lines.get(n).strip();
            if (line.isEmpty()) {
                continue;
            }
            queries.add(line.startsWith("{") ? json(queries.size(), n + 1, line) : new Line(queries.size(), n + 1, line, null));
        }
        if (queries.isEmpty()) {
            throw new IllegalArgumentException("holds no query");
        }
        return queries;
    }

    private static Line json(int index, int lineNumber, String line) {
        JsonNode node;
        try {
            node = EsHttp.JSON.readTree(line);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("line " + lineNumber + " [" + line + "] is not JSON: " + e.getOriginalMessage());
        }
        if (node == null || node.isObject() == false || node.size() != 1) {
            throw bad(lineNumber, line);
        }
        Iterator<String> keys = node.fieldNames();
        String key = keys.next();
        JsonNode value = node.get(key);
        if ((key.equals("text") || key.equals("image")) == false || value.isTextual() == false || value.asText().isBlank()) {
            throw bad(lineNumber, line);
        }
        return key.equals("text") ? new Line(index, lineNumber, value.asText(), null) : new Line(index, lineNumber, null, Path.of(value.asText()));
    }

    private static IllegalArgumentException bad(int lineNumber, String line) {
        return new IllegalArgumentException("line " + lineNumber + " [" + line
            + "] is not a query: a JSON line is {\"text\": TEXT} or {\"image\": FILE}, one non-empty string");
    }
}
