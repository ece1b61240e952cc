package io.fuserank.tools;

import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One record read from a source. Sources never stop at a bad record: they hand it on as a
 * {@link Bad} entry so that it lands in the dead-letter file with the line it came from, and the
 * rest of a million-line source is still indexed.
 */
sealed interface SourceEntry {

    /**
     * A record that becomes one document: an {@link Image} or a {@link Caption}. {@link IndexRun}
     * batches, resumes and reports them by these two values alone.
     */
    sealed interface Item extends SourceEntry {

        /** The document id (see {@link DocumentIds}). */
        String id();

        /** The image's path relative to the source root, stored in the document and named in its dead letter. */
        String path();
    }

    /**
     * An image to index.
     *
     * @param id     the document id (see {@link DocumentIds#forPath})
     * @param path   the path stored in the document, relative to the source root
     * @param file   where to read the image
     * @param fields further document fields ({@code captions}, or a JSONL line's own fields), in order
     */
    record Image(String id, String path, Path file, Map<String, Object> fields) implements Item {
        public Image {
            fields = Collections.unmodifiableMap(new LinkedHashMap<>(fields));
        }
    }

    /**
     * One caption of an image, to index on its own for image-to-text search.
     *
     * @param id    the document id (see {@link DocumentIds#forCaption})
     * @param path  the captioned image's path relative to the source root (stored as {@code image_path})
     * @param index the caption's position among its image's captions (stored as {@code caption_index})
     * @param text  the caption (stored as {@code caption}, what the text encoder or the pipeline encodes)
     */
    record Caption(String id, String path, int index, String text) implements Item {
    }

    /** A record that names nothing to index; {@code id} and {@code path} are null when unknown. */
    record Bad(String id, String path, String reason) implements SourceEntry {
    }
}
