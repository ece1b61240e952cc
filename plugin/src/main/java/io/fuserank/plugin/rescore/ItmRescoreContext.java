package io.fuserank.plugin.rescore;

import io.fuserank.reranker.ScoreFormula;
import org.apache.lucene.index.IndexReader;
import org.elasticsearch.search.rescore.RescoreContext;

import java.io.IOException;
import java.util.HashMap;
import java.util.Map;

/**
 * One shard's rescore of one search: the window, the encoded query, what reads and scores the
 * candidates, and the {@link WindowScorer.Parts} the rescore computed for each hit of its window,
 * which explain reuses instead of scoring again.
 */
final class ItmRescoreContext extends RescoreContext {

    private final String shard;
    private final String modelId;
    private final String featuresField;
    private final String vectorField;
    private final float[] queryEmbedding;
    private final CandidateReader reader;
    private final FusionCall fusion;
    private final ScoreFormula formula;
    private final ItmOptions options;
    private final RescoredWindows windows;
    private final Map<Integer, WindowScorer.Parts> parts = new HashMap<>();

    /**
     * {@code shard} names the shard for messages ({@code [index][n]}); {@code vectorField} is null when
     * the index does not map it (allowed when the score mode needs no ITC part).
     */
    ItmRescoreContext(int windowSize, String shard, String modelId, String featuresField, String vectorField, float[] queryEmbedding,
                      CandidateReader reader, FusionCall fusion, ScoreFormula formula, ItmOptions options, RescoredWindows windows) {
        super(windowSize, new ItmRescorer());
        this.shard = shard;
        this.modelId = modelId;
        this.featuresField = featuresField;
        this.vectorField = vectorField;
        this.queryEmbedding = queryEmbedding;
        this.reader = reader;
        this.fusion = fusion;
        this.formula = formula;
        this.options = options;
        this.windows = windows;
    }

    String shard() {
        return shard;
    }

    String modelId() {
        return modelId;
    }

    String featuresField() {
        return featuresField;
    }

    String vectorField() {
        return vectorField;
    }

    float[] queryEmbedding() {
        return queryEmbedding;
    }

    CandidateReader reader() {
        return reader;
    }

    FusionCall fusion() {
        return fusion;
    }

    ScoreFormula formula() {
        return formula;
    }

    /** Keeps what the rescore over {@code reader} computed for the hits of its window (top-level doc ids {@code docs}), for explain. */
    void keep(IndexReader reader, int[] docs, WindowScorer.Outcome[] outcomes) {
        for (int i = 0; i < docs.length; i++) {
            parts.put(docs[i], outcomes[i].parts());
        }
        RescoredWindows.Key key = RescoredWindows.key(reader, options, getWindowSize());
        if (key != null) {
            windows.put(key, parts);
        }
    }

    /**
     * The parts of rescored hit {@code doc}: those this context's rescore kept, else (the fetch phase
     * in a context of its own) those the node kept for the same reader and options
     * ({@link RescoredWindows}). Only where neither has them (the node dropped the window) are the
     * parts of every rescored hit computed here, in one fusion call, and kept for the window's other hits.
     */
    WindowScorer.Parts parts(IndexReader reader, int doc) throws IOException {
        if (parts.containsKey(doc) == false) {
            RescoredWindows.Key key = RescoredWindows.key(reader, options, getWindowSize());
            if (key != null) {
                parts.putAll(windows.get(key));
            }
        }
        if (parts.containsKey(doc) == false) {
            int[] docs = getRescoredDocs().stream().mapToInt(Integer::intValue).filter(d -> parts.containsKey(d) == false).toArray();
            WindowScorer.Parts[] computed = WindowScorer.parts(this, reader().read(reader, docs, this::checkCancellation));
            for (int i = 0; i < docs.length; i++) {
                parts.put(docs[i], computed[i]);
            }
        }
        return parts.get(doc);
    }
}
