package io.fuserank.plugin.rescore;

import org.apache.lucene.document.Document;
import org.apache.lucene.search.IndexSearcher;
import org.apache.lucene.util.BytesRef;
import org.elasticsearch.common.logging.HeaderWarning;
import org.elasticsearch.index.mapper.IdFieldMapper;
import org.elasticsearch.index.mapper.Uid;
import org.elasticsearch.logging.LogManager;
import org.elasticsearch.logging.Logger;

import java.io.IOException;
import java.util.Locale;
import java.util.Set;

/**
 * Tells the client, once per shard, that hits of its rescore window kept their first-stage score
 * because their stored token features could not be scored: an HTTP {@code Warning} response header
 * (response headers travel from the shards to the coordinating node) with the shard, the count and
 * the first such hit's {@code _id} and reason. Hits without features are normal and not reported;
 * explain gives every hit's reason.
 *
 * <p>Best effort: Elasticsearch keeps the response headers of the shard response that completes a
 * search phase, not the union of all shards' (elastic/elasticsearch#33936), so where several
 * shards warn the client may see one of them, and a warning can be lost when the last shard to
 * answer had nothing to report. Explain is the reliable per-hit account.
 */
final class UnscoredHitsWarning {

    private static final Logger LOGGER = LogManager.getLogger(UnscoredHitsWarning.class);

    private UnscoredHitsWarning() {
    }

    /** Adds the warning if any of {@code outcomes} (for top-level doc ids {@code docs}) is a fault. */
    static void report(ItmRescoreContext ctx, IndexSearcher searcher, int[] docs, WindowScorer.Outcome[] outcomes) {
        int faults = 0;
        int first = -1;
        for (int i = 0; i < outcomes.length; i++) {
            if (outcomes[i].fault() != null) {
                faults++;
                first = first < 0 ? i : first;
            }
        }
        if (faults > 0) {
            HeaderWarning.addWarning("{}", String.format(Locale.ROOT,
                "[%s] shard %s: [%d] of the [%d] hits in the rescore window kept their first-stage score because their [%s] could not "
                    + "be scored; the first, %s: %s", ItmRescorerBuilder.NAME, ctx.shard(), faults, outcomes.length, ctx.featuresField(),
                describe(searcher, docs[first]), outcomes[first].reason()));
        }
    }

    /** {@code _id [x]}, or {@code doc [n]} (the shard's Lucene doc id) where the stored {@code _id} cannot be read. */
    private static String describe(IndexSearcher searcher, int doc) {
        try {
            Document stored = searcher.storedFields().document(doc, Set.of(IdFieldMapper.NAME));
            BytesRef id = stored.getBinaryValue(IdFieldMapper.NAME);
            if (id != null) {
                return "_id [" + Uid.decodeId(id) + "]";
            }
        } catch (IOException | RuntimeException e) {
            LOGGER.debug(() -> "cannot read the [_id] of doc [" + doc + "]", e);
        }
        return "doc [" + doc + "]";
    }
}
