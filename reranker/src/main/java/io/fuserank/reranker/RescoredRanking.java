package io.fuserank.reranker;

/**
 * The order and scores of a rescored hit list, the rule both the plugin's rescorer and the CLI's
 * client-side rerank apply: the top {@code window} hits sorted by their final score (ties by the
 * caller's key, ascending: Lucene's doc id, as Elasticsearch's query rescorer breaks them), then the
 * hits below the window in their first-stage order.
 *
 * <p>First-stage and final scores are on different scales, so sorting the hits below the window
 * together with the rescored ones (what the query rescorer does) would interleave them arbitrarily.
 * Instead a hit below the window keeps {@link ScoreFormula#unscored} of its first-stage score capped
 * just below the window's lowest final score (never below 0) and at most the score of the hit before
 * it, which keeps its place and a list sorted by score (Elasticsearch's rescorer contract). Where the
 * window covers every hit returned, as it should, no hit is capped.
 *
 * @param order  {@code order[r]} is the caller's index of the hit ranked {@code r}
 * @param scores {@code scores[r]} is the final score of the hit ranked {@code r}
 */
public record RescoredRanking(int[] order, float[] scores) {

    /**
     * Ranks {@code firstStage.length} hits given in first-stage order: the first {@code windowScores.length}
     * are the window, with their final scores (scored or not); {@code keys} break ties in the window.
     */
    public static RescoredRanking rank(ScoreFormula formula, float[] firstStage, float[] windowScores, int[] keys) {
        int n = firstStage.length;
        int window = windowScores.length;
        if (window > n || keys.length < window) {
            throw new IllegalArgumentException("a window of [" + window + "] scores and [" + keys.length + "] keys over [" + n + "] hits");
        }
        Integer[] top = new Integer[window];
        for (int i = 0; i < window; i++) {
            top[i] = i;
        }
        java.util.Arrays.sort(top, (a, b) -> {
            int cmp = Float.compare(windowScores[b], windowScores[a]);
            return cmp != 0 ? cmp : Integer.compare(keys[a], keys[b]);
        });
        int[] order = new int[n];
        float[] scores = new float[n];
        for (int r = 0; r < window; r++) {
            order[r] = top[r];
            scores[r] = windowScores[top[r]];
        }
        float floor = window > 0 ? scores[window - 1] : Float.MAX_VALUE;
        for (int i = window; i < n; i++) {
            float cap = i == window && window > 0 ? Math.max(0f, Math.nextDown(floor)) : floor;
            float score = Math.min(formula.unscored(firstStage[i]), cap);
            order[i] = i;
            scores[i] = score;
            floor = score;
        }
        return new RescoredRanking(order, scores);
    }
}
