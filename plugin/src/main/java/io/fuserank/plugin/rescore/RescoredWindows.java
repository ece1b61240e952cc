package io.fuserank.plugin.rescore;

import org.apache.lucene.index.IndexReader;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The parts each rescore computed for its shard's window ({@link WindowScorer.Parts} by top-level
 * doc id), kept on the node for that search's explain. With a top-level {@code knn} (a DFS phase
 * first) or over several shards, Elasticsearch runs the fetch phase, where explain runs, in a new
 * search context over the same shard reader and carries only the rescored doc ids across; this map
 * carries the parts, so explain runs no inference.
 *
 * <p>Keyed by the shard reader's cache key (the same in the query and fetch phases of one search,
 * different after a refresh) and the rescorer's options, so two searches that share a key have the
 * same parts. Bounded: the least recently used of more than {@link #CAPACITY} windows is dropped,
 * and an explain that finds its window gone scores the window again in one batched call
 * ({@link ItmRescoreContext#parts}). A window is a few kilobytes at most.
 */
public final class RescoredWindows {

    static final int CAPACITY = 256;

    /** A rescore's identity: its shard reader and options. */
    record Key(IndexReader.CacheKey reader, ItmOptions options, int windowSize) {
    }

    private final Map<Key, Map<Integer, WindowScorer.Parts>> windows = new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<Key, Map<Integer, WindowScorer.Parts>> eldest) {
            return size() > CAPACITY;
        }
    };

    /** The key of a rescore over {@code reader}, or null where the reader has no cache key (then nothing is kept). */
    static Key key(IndexReader reader, ItmOptions options, int windowSize) {
        IndexReader.CacheHelper helper = reader.getReaderCacheHelper();
        return helper == null ? null : new Key(helper.getKey(), options, windowSize);
    }

    synchronized void put(Key key, Map<Integer, WindowScorer.Parts> parts) {
        windows.put(key, Map.copyOf(parts));
    }

    /** The parts kept under {@code key}, or an empty map. */
    synchronized Map<Integer, WindowScorer.Parts> get(Key key) {
        return windows.getOrDefault(key, Map.of());
    }
}
