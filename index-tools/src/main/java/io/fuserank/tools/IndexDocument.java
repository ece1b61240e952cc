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

    /** A caption document's field holding its image's relative path. */
    static final String IMAGE_PATH = "image_path";
    /** A caption document's field holding the caption's position among its image's captions. */
    static final String CAPTION_INDEX = "caption_index";
    /** An image document's relative path, and the captions a Karpathy file gives it. */
    static final String PATH = "path";
    static final String CAPTIONS = "captions";

    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * The source {@code {"path", <the entry's fields>, <encoded fields>}}; {@code byte[]} values
     * become standard base64 without line breaks, what a {@code binary} field takes.
     */
    static IndexDocument of(SourceEntry.Image image, Map<String, Object> encoded) {
        Map<String, Object> source = new LinkedHashMap<>();
        source.put(PATH, image.path());
        source.putAll(image.fields());
        source.putAll(encoded);
        return serialised(image, source);
    }

    /** The source {@code {"caption", "image_path", "caption_index", <encoded fields>}}, byte[] values as above. */
    static IndexDocument of(SourceEntry.Caption caption, Map<String, Object> encoded) {
        Map<String, Object> source = new LinkedHashMap<>();
        source.put(IndexKind.CAPTION.sourceField(), caption.text());
        source.put(IMAGE_PATH, caption.path());
        source.put(CAPTION_INDEX, caption.index());
        source.putAll(encoded);
        return serialised(caption, source);
    }

    private static IndexDocument serialised(SourceEntry.Item item, Map<String, Object> source) {
        try {
            return new IndexDocument(item.id(), item.path(), JSON.writeValueAsBytes(source));
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException("cannot serialise the document [" + item.id() + "] for [" + item.path() + "]", e);
        }
    }
}
