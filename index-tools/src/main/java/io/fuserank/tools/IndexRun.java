package io.fuserank.tools;

import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;

/**
 * One indexing run, the same for images and captions: this thread reads the source and cuts it
 * into batches; {@code threads} workers each take a batch, drop the ids already indexed
 * ({@code --resume}), turn the rest into documents and hand them to the {@link BulkIndexer}. The batch queue holds two batches per
 * worker, so reading never runs far ahead of encoding, and the indexer's bounded requests in flight
 * hold the encoders back when the cluster is slower: memory stays flat for any source size.
 *
 * @param <T> the items of the source, which the document factory takes
 */
final class IndexRun<T extends SourceEntry.Item> {

    /** Tells a worker to stop; compared by identity, so an instance of its own. */
    private final List<T> end = Collections.unmodifiableList(new ArrayList<>());

    private final EntrySource source;
    private final DocumentFactory<T> documents;
    private final ExistingIds existing;
    private final BulkIndexer indexer;
    private final Tally tally;
    private final int threads;
    private final int batchSize;

    /** @param existing the resume check, or null to index everything */
    IndexRun(EntrySource source, DocumentFactory<T> documents, ExistingIds existing, BulkIndexer indexer, Tally tally,
             int threads, int batchSize) {
        this.source = source;
        this.documents = documents;
        this.existing = existing;
        this.indexer = indexer;
        this.tally = tally;
        this.threads = threads;
        this.batchSize = batchSize;
    }

    /** Runs to the end of the source, or until the tally is aborted; returns when every document has an outcome. */
    void run() throws Exception {
        BlockingQueue<List<T>> batches = new ArrayBlockingQueue<>(2 * threads);
        ExecutorService workers = Executors.newFixedThreadPool(threads, r -> new Thread(r, "fuserank-encode"));
        List<Future<?>> running = new ArrayList<>();
        try {
            for (int i = 0; i < threads; i++) {
                running.add(workers.submit(() -> work(batches)));
            }
            try (Stream<SourceEntry> entries = source.entries()) {
                List<T> batch = new ArrayList<>(batchSize);
                for (Iterator<SourceEntry> it = entries.iterator(); it.hasNext() && !tally.aborted(); ) {
                    switch (it.next()) {
                        case SourceEntry.Bad bad -> tally.failed(bad.id(), bad.path(), bad.reason());
                        case SourceEntry.Item item -> {
                            batch.add(documents.itemType().cast(item));
                            if (batch.size() == batchSize) {
                                batches.put(batch);
                                batch = new ArrayList<>(batchSize);
                            }
                        }
                    }
                }
                if (!batch.isEmpty() && !tally.aborted()) {
                    batches.put(batch);
                }
            } finally {
                for (int i = 0; i < threads; i++) {
                    batches.put(end);
                }
            }
            for (Future<?> worker : running) {
                worker.get();
            }
        } finally {
            workers.shutdownNow();
            indexer.finish();
        }
    }

    /**
     * A worker never dies on an error: it aborts the run and goes on taking (and dropping) batches,
     * so the reading thread can never block on a full queue nobody empties.
     */
    private Void work(BlockingQueue<List<T>> batches) throws InterruptedException {
        for (List<T> batch = batches.take(); batch != end; batch = batches.take()) {
            if (tally.aborted()) {
                continue;
            }
            try {
                for (IndexDocument document : documents.documents(notIndexed(batch))) {
                    indexer.submit(document);
                }
            } catch (ClusterUnreachableException e) {
                tally.abort(e.getMessage());
            } catch (InterruptedException e) {
                throw e;
            } catch (Exception e) {
                tally.abort("a batch starting at [" + batch.get(0).path() + "] failed: " + Errors.describe(e));
            }
        }
        return null;
    }

    private List<T> notIndexed(List<T> batch) throws Exception {
        if (existing == null) {
            return batch;
        }
        Set<String> indexed = existing.indexed(batch.stream().map(SourceEntry.Item::id).toList());
        if (indexed.isEmpty()) {
            return batch;
        }
        tally.skipped(indexed.size());
        return batch.stream().filter(item -> !indexed.contains(item.id())).toList();
    }
}
