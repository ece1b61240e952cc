package io.fuserank.tools;

import java.util.List;

/**
 * Turns a batch of source items (images or captions) into documents. An item that cannot become
 * a document (an unreadable or corrupt file, a caption the tokenizer rejects) is reported to the
 * {@link Tally} as failed and left out, so it never costs the rest of its batch.
 *
 * <p>A factory that encodes here owns its encoder: closing the factory closes it.
 *
 * @param <T> the items it takes
 */
interface DocumentFactory<T extends SourceEntry.Item> extends AutoCloseable {

    /** The items it takes, so that {@link IndexRun} can batch a source's entries for it without unchecked casts. */
    Class<T> itemType();

    List<IndexDocument> documents(List<T> batch);

    @Override
    default void close() throws Exception {
    }
}
