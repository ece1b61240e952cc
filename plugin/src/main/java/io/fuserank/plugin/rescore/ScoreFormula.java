package io.fuserank.plugin.rescore;

import io.fuserank.reranker.ScoreMode;
import org.apache.lucene.search.Explanation;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * A rescored hit's final score and its explanation, for one {@code score_mode}. The raw score is
 * <ul>
 *   <li>{@code itm}: {@code ITM logit} (ALBEF ranks its top-k by it, arXiv 2107.07651);</li>
 *   <li>{@code itm_plus_itc}: {@code ITM logit + itc_weight * ITC dot product} (BLIP, arXiv 2201.12086, where
 *       {@code itc_weight} 1 is BLIP's sum and the default is the model's, chosen on validation data);</li>
 *   <li>{@code blend}: {@code query_weight * first-stage score + rescore_query_weight * ITM logit},
 *       the total of Elasticsearch's query rescorer with the ITM logit as the rescore score.</li>
 * </ul>
 * The final score is {@link #nonNegative} of the raw score: ITM logits are negative for most
 * candidates, and Elasticsearch scores must not be (the {@code rescorer} retriever turns the rescored
 * hits into a rank-docs query, which rejects negative scores). The map is the one Elasticsearch applies
 * to {@code max_inner_product} similarities, strictly increasing, so the ranking is exactly the raw
 * score's; explain shows both.
 *
 * <p>A hit that is not scored by the fusion encoder (outside the window, or without token features)
 * keeps its first-stage score; in {@code blend} that is {@code query_weight * first-stage score}, as
 * the query rescorer scores a hit its rescore query does not match (the weights are non-negative, so
 * this stays a valid score).
 */
record ScoreFormula(ScoreMode mode, float queryWeight, float rescoreQueryWeight, float itcWeight) {

    /** The formula of {@code options}; an {@code itm_plus_itc} request without {@code itc_weight} takes the model's. */
    static ScoreFormula of(ItmOptions options, EncodedQuery query) {
        float itcWeight = options.itcWeight() != null ? options.itcWeight() : query.modelItcWeight();
        return new ScoreFormula(options.mode(), options.queryWeight(), options.rescoreQueryWeight(), itcWeight);
    }

    /** Whether the final score needs the document's stored ITC vector. */
    boolean needsItc() {
        return mode == ScoreMode.ITM_PLUS_ITC;
    }

    /** The final score; {@code itc} is ignored unless {@link #needsItc()}. */
    float combine(float firstStage, float itm, float itc) {
        return nonNegative(raw(firstStage, itm, itc));
    }

    private float raw(float firstStage, float itm, float itc) {
        return switch (mode) {
            case ITM, ITM_PLUS_ITC -> mode.combine(itm, itc, 1f, itcWeight);
            case BLEND -> queryWeight * firstStage + rescoreQueryWeight * itm;
        };
    }

    /** {@code raw + 1} from 0 up, {@code 1 / (1 - raw)} below: positive, strictly increasing, continuous. */
    static float nonNegative(float raw) {
        return raw >= 0 ? raw + 1 : 1 / (1 - raw);
    }

    /**
     * The score of a hit the fusion encoder did not score. Never NaN or infinite: a product that
     * overflows is clamped to the largest float, and a NaN first-stage score counts as 0.
     */
    float unscored(float firstStage) {
        float score = mode == ScoreMode.BLEND ? queryWeight * firstStage : firstStage;
        return Float.isNaN(score) ? 0f : Math.clamp(score, -Float.MAX_VALUE, Float.MAX_VALUE);
    }

    /**
     * The explanation of a scored hit: the formula, the ITM part, the ITC part (shown even where the
     * mode does not add it, {@code itc} is null when the index has no vector for the hit) and the
     * first-stage score.
     */
    Explanation explain(Explanation firstStage, String modelId, float itm, Float itc, String vectorField) {
        float first = firstStage.getValue().floatValue();
        Explanation itmPart = Explanation.match(itm, "ITM match logit of the fusion encoder of model [" + modelId + "]");
        Explanation itcPart = itc == null ? null
            : Explanation.match(itc, "ITC dot product of the query embedding and the document's [" + vectorField + "]");
        List<Explanation> parts = new ArrayList<>();
        String formula;
        switch (mode) {
            case ITM -> {
                formula = "ITM logit";
                parts.add(itmPart);
                addIfPresent(parts, itcPart, "not added by score_mode [itm]");
                parts.add(informational(firstStage, "not added by score_mode [itm]"));
            }
            case ITM_PLUS_ITC -> {
                formula = "ITM logit + itc_weight [" + itcWeight + "] * ITC dot product";
                parts.add(itmPart);
                parts.add(Explanation.match(itcWeight * itc, "itc_weight [" + itcWeight + "] * ITC dot product", itcPart));
                parts.add(informational(firstStage, "not added by score_mode [itm_plus_itc]"));
            }
            case BLEND -> {
                formula = String.format(Locale.ROOT, "query_weight [%s] * first-stage score + rescore_query_weight [%s] * ITM logit",
                    queryWeight, rescoreQueryWeight);
                parts.add(Explanation.match(queryWeight * first, "query_weight [" + queryWeight + "] * first-stage score", firstStage));
                parts.add(Explanation.match(rescoreQueryWeight * itm, "rescore_query_weight [" + rescoreQueryWeight + "] * ITM logit",
                    itmPart));
                addIfPresent(parts, itcPart, "not added by score_mode [blend]");
            }
            default -> throw new AssertionError(mode);
        }
        float raw = raw(first, itm, itc == null ? 0f : itc);
        return Explanation.match(nonNegative(raw), "fuserank_itm score_mode [" + mode.label()
            + "]: raw score + 1 if it is >= 0, else 1 / (1 - raw score) (Elasticsearch scores must not be negative)",
            Explanation.match(raw, "raw score: " + formula, parts));
    }

    /** The explanation of a hit in the window that the fusion encoder could not score, saying why. */
    Explanation explainUnscored(Explanation firstStage, String reason) {
        return Explanation.match(unscored(firstStage.getValue().floatValue()),
            "fuserank_itm did not rescore this hit (" + reason + "): " + unscoredFormula(), firstStage);
    }

    /** The explanation of a hit below the rescore window. */
    Explanation explainOutsideWindow(Explanation firstStage, int windowSize) {
        return Explanation.match(unscored(firstStage.getValue().floatValue()),
            "fuserank_itm did not rescore this hit (outside the rescore window of [" + windowSize + "] hits, ranked below it): "
                + unscoredFormula(), firstStage);
    }

    private String unscoredFormula() {
        return mode == ScoreMode.BLEND ? "query_weight [" + queryWeight + "] * first-stage score" : "first-stage score kept";
    }

    private static void addIfPresent(List<Explanation> parts, Explanation part, String note) {
        if (part != null) {
            parts.add(informational(part, note));
        }
    }

    private static Explanation informational(Explanation part, String note) {
        return Explanation.match(part.getValue(), part.getDescription() + " (" + note + ")", part.getDetails());
    }
}
