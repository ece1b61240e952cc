package io.fuserank.tools;

import java.util.List;

/**
 * Turns a batch of source images into documents. An image that cannot become a document (an
 * unreadable or corrupt file) is reported to the {@link Tally} as failed and left out, so it
 * never costs the rest of its batch.
 */
interface DocumentFactory {

    List<IndexDocument> documents(List<SourceEntry.Image> batch);
}
