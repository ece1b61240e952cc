package io.fuserank.tools;

import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One record read from an image source. Sources never stop at a bad record: they hand it on as a
 * {@link Bad} entry so that it lands in the dead-letter file with the line it came from, and the
 * rest of a million-line source is still indexed.
 */
sealed interface SourceEntry {

    /**
     * An image to index.
     *
     * @param id     the document id (see {@link DocumentIds})
     * @param path   the path stored in the document, relative to the source root
     * @param file   where to read the image
     * @param fields further document fields ({@code captions}, or a JSONL line's own fields), in order
     */
    record Image(String id, String path, Path file, Map<String, Object> fields) implements SourceEntry {
        public Image {
            fields = Collections.unmodifiableMap(new LinkedHashMap<>(fields));
        }
    }

    /** A record that names no readable image; {@code id} and {@code path} are null when unknown. */
    record Bad(String id, String path, String reason) implements SourceEntry {
    }
}
