package io.fuserank.tools;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.UncheckedIOException;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A document ready for the bulk request: its id, its path (for the dead-letter file) and its
 * source already serialised, so the bulk ingester measures and sends those bytes as they are
 * instead of serialising a map of float arrays twice.
 */
record IndexDocument(String id, String path, byte[] json) {

    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * The source {@code {"path", <the entry's fields>, <encoded fields>}}; {@code byte[]} values
     * become standard base64 without line breaks, what a {@code binary} field takes.
     */
    static IndexDocument of(SourceEntry.Image image, Map<String, Object> encoded) {
        Map<String, Object> source = new LinkedHashMap<>();
        source.put("path", image.path());
        source.putAll(image.fields());
        source.putAll(encoded);
        try {
            return new IndexDocument(image.id(), image.path(), JSON.writeValueAsBytes(source));
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException("cannot serialise the document for [" + image.path() + "]", e);
        }
    }
}
