package io.fuserank.tools;

import java.io.IOException;
import java.util.stream.Stream;

/**
 * Where the records to index come from: images from a Karpathy annotation file, a directory tree
 * or a JSONL file, or the captions of a Karpathy file. Its entries are {@link SourceEntry.Bad}
 * records and items of one kind only, the kind its run's {@link DocumentFactory} takes.
 */
interface EntrySource {

    /** For logs and the summary, e.g. {@code karpathy [test.json] (1000 images)}. */
    String describe();

    /** How many entries {@link #entries()} will give (for the progress bar; bad records count). */
    long size() throws IOException;

    /** The entries, lazily where the format allows; close the stream to release the file. */
    Stream<SourceEntry> entries() throws IOException;
}
