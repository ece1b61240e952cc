package io.fuserank.plugin.rescore;

import org.elasticsearch.search.rescore.RescoreContext;

/** One shard's rescore of one search: the window, the encoded query and what reads and scores the candidates. */
final class ItmRescoreContext extends RescoreContext {

    private final String shard;
    private final String modelId;
    private final String featuresField;
    private final String vectorField;
    private final float[] queryEmbedding;
    private final CandidateReader reader;
    private final FusionCall fusion;
    private final ScoreFormula formula;

    /**
     * {@code shard} names the shard for messages ({@code [index][n]}); {@code vectorField} is null when
     * the index does not map it (allowed when the score mode needs no ITC part).
     */
    ItmRescoreContext(int windowSize, String shard, String modelId, String featuresField, String vectorField, float[] queryEmbedding,
                      CandidateReader reader, FusionCall fusion, ScoreFormula formula) {
        super(windowSize, new ItmRescorer());
        this.shard = shard;
        this.modelId = modelId;
        this.featuresField = featuresField;
        this.vectorField = vectorField;
        this.queryEmbedding = queryEmbedding;
        this.reader = reader;
        this.fusion = fusion;
        this.formula = formula;
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
}
