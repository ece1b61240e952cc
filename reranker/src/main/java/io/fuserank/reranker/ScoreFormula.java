package io.fuserank.reranker;

/**
 * A reranked hit's final score, the one definition that the plugin's {@code fuserank_itm}
 * rescorer, the CLI's client-side rerank and the manifest's {@code score} section share:
 * {@code score = nonNegative(raw)}, where {@code raw} is the {@link ScoreMode}'s combination of
 * the hit's parts:
 * <ul>
 *   <li>{@code itm}: {@code itm};</li>
 *   <li>{@code itm_plus_itc}: {@code itm + itcWeight * itc};</li>
 *   <li>{@code blend}: {@code queryWeight * firstStage + rescoreQueryWeight * itm}.</li>
 * </ul>
 * Each product and sum is a float operation in that order, so every caller gets the same bits.
 *
 * <p>{@link #nonNegative} makes the score valid for Elasticsearch (ITM logits are negative for most
 * candidates; the {@code rescorer} retriever turns rescored hits into a rank-docs query, which rejects
 * negative scores) without changing the order. A hit the fusion encoder did not score keeps its
 * first-stage score ({@link #unscored}), and {@link RescoredRanking} orders a rescored list.
 *
 * @param queryWeight        {@code blend}'s weight of the first-stage score, at least 0
 * @param rescoreQueryWeight {@code blend}'s weight of the ITM logit, at least 0
 * @param itcWeight          {@code itm_plus_itc}'s weight of the ITC part, at least 0
 */
public record ScoreFormula(ScoreMode mode, float queryWeight, float rescoreQueryWeight, float itcWeight) {

    /** The manifest's {@code score.final}: the map from raw score to final score, as {@link #nonNegative} computes it. */
    public static final String FINAL = "raw + 1 if raw >= 0 else 1 / (1 - raw)";

    /** The manifest's {@code score.unscored}: the score of a hit the fusion encoder did not score, as {@link #unscored} computes it. */
    public static final String UNSCORED = "first_stage (blend: query_weight * first_stage), and below the window capped under "
        + "the window's lowest score";

    public ScoreFormula {
        check("query_weight", queryWeight);
        check("rescore_query_weight", rescoreQueryWeight);
        check("itc_weight", itcWeight);
    }

    private static void check(String name, float weight) {
        if (Float.isFinite(weight) == false || weight < 0) {
            throw new IllegalArgumentException("[" + name + "] must be a finite number >= 0, got [" + weight + "]");
        }
    }

    /** Whether the score needs the document's stored ITC vector. */
    public boolean needsItc() {
        return mode == ScoreMode.ITM_PLUS_ITC;
    }

    /** The mode's raw score; {@code itc} is ignored unless {@link #needsItc()}, {@code firstStage} unless {@code blend}. */
    public float raw(float firstStage, float itm, float itc) {
        return switch (mode) {
            case ITM -> itm;
            case ITM_PLUS_ITC -> itm + itcWeight * itc;
            case BLEND -> queryWeight * firstStage + rescoreQueryWeight * itm;
        };
    }

    /** The final score of a hit the fusion encoder scored: {@code nonNegative(raw(firstStage, itm, itc))}. */
    public float score(float firstStage, float itm, float itc) {
        return nonNegative(raw(firstStage, itm, itc));
    }

    /**
     * Why a hit the fusion encoder scored must still count as unscored, or null when it need not:
     * its ITC part ({@code itc}, null without a stored vector) or its final score is not finite (a
     * damaged stored vector, extreme features). The rescorer and the CLI's client-side rerank both
     * ask, so that no score either of them gives is NaN or infinite.
     */
    public String notFinite(float firstStage, float itm, Float itc) {
        if (itc != null && Float.isFinite(itc) == false) {
            return "its ITC part is [" + itc + "]";
        }
        float score = score(firstStage, itm, itc == null ? 0f : itc);
        return Float.isFinite(score) ? null : "its score is [" + score + "]";
    }

    /**
     * {@code raw + 1} from 0 up, {@code 1 / (1 - raw)} below: positive, strictly increasing and
     * continuous (the map Elasticsearch applies to {@code max_inner_product} similarities), so the
     * ranking is exactly the raw score's.
     */
    public static float nonNegative(float raw) {
        return raw >= 0 ? raw + 1 : 1 / (1 - raw);
    }

    /**
     * The score of a hit the fusion encoder did not score: its first-stage score ({@code blend}:
     * {@code queryWeight * firstStage}, as the query rescorer scores a hit its rescore query does not
     * match). Never NaN or infinite: an overflow is clamped to the largest float, NaN counts as 0.
     */
    public float unscored(float firstStage) {
        float score = mode == ScoreMode.BLEND ? queryWeight * firstStage : firstStage;
        return Float.isNaN(score) ? 0f : Math.clamp(score, -Float.MAX_VALUE, Float.MAX_VALUE);
    }

    /**
     * The ITC part: the dot product of the query embedding and a document's stored vector, summed
     * in float in index order, so the plugin and the CLI get the same bits.
     */
    public static float itc(float[] query, float[] document) {
        if (query.length != document.length) {
            throw new IllegalArgumentException("the query embedding has [" + query.length + "] dims, the document's vector ["
                + document.length + "]");
        }
        float sum = 0f;
        for (int i = 0; i < query.length; i++) {
            sum += query[i] * document[i];
        }
        return sum;
    }
}
