package io.fuserank.plugin.rescore;

import io.fuserank.reranker.ScoreFormula;
import io.fuserank.reranker.ScorePart;
import org.apache.lucene.search.Explanation;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The explanation of a hit's {@code fuserank_itm} score, built from the parts the rescore computed
 * (never by scoring again): the final score, the raw score with {@link ScoreFormula}'s formula, and
 * the parts. The ITM and ITC parts are the nodes whose descriptions start with
 * {@link ScorePart#describe} ({@code "itm: "}, {@code "itc: "}), the structure clients read
 * (docs/scores.md); the ITC part is shown even where the mode does not add it.
 */
final class ScoreExplanation {

    private ScoreExplanation() {
    }

    /** A scored hit; {@code itc} is null when the index has no vector for it. */
    static Explanation scored(ScoreFormula formula, Explanation firstStage, String modelId, float itm, Float itc, String vectorField) {
        float first = firstStage.getValue().floatValue();
        float queryWeight = formula.queryWeight();
        float rescoreQueryWeight = formula.rescoreQueryWeight();
        float itcWeight = formula.itcWeight();
        String mode = formula.mode().label();
        Explanation itmPart = Explanation.match(itm, ScorePart.ITM.describe("ITM match logit of the fusion encoder of model [" + modelId + "]"));
        Explanation itcPart = itc == null ? null
            : Explanation.match(itc, ScorePart.ITC.describe("ITC dot product of the query embedding and the document's [" + vectorField + "]"));
        String notAdded = "not added by score_mode [" + mode + "]";
        List<Explanation> parts = new ArrayList<>();
        String formulaText;
        switch (formula.mode()) {
            case ITM -> {
                formulaText = "ITM logit";
                parts.add(itmPart);
                addIfPresent(parts, itcPart, notAdded);
                parts.add(informational(firstStage, notAdded));
            }
            case ITM_PLUS_ITC -> {
                formulaText = "ITM logit + itc_weight [" + itcWeight + "] * ITC dot product";
                parts.add(itmPart);
                parts.add(Explanation.match(itcWeight * itc, "itc_weight [" + itcWeight + "] * ITC dot product", itcPart));
                parts.add(informational(firstStage, notAdded));
            }
            case BLEND -> {
                formulaText = String.format(Locale.ROOT, "query_weight [%s] * first-stage score + rescore_query_weight [%s] * ITM logit",
                    queryWeight, rescoreQueryWeight);
                parts.add(Explanation.match(queryWeight * first, "query_weight [" + queryWeight + "] * first-stage score", firstStage));
                parts.add(Explanation.match(rescoreQueryWeight * itm, "rescore_query_weight [" + rescoreQueryWeight + "] * ITM logit",
                    itmPart));
                addIfPresent(parts, itcPart, notAdded);
            }
            default -> throw new AssertionError(formula.mode());
        }
        float raw = formula.raw(first, itm, itc == null ? 0f : itc);
        return Explanation.match(ScoreFormula.nonNegative(raw), "fuserank_itm score_mode [" + mode
            + "]: raw score + 1 if it is >= 0, else 1 / (1 - raw score) (Elasticsearch scores must not be negative)",
            Explanation.match(raw, "raw score: " + formulaText, parts));
    }

    /** A hit in the window that the fusion encoder could not score, saying why. */
    static Explanation unscored(ScoreFormula formula, Explanation firstStage, String reason) {
        return Explanation.match(formula.unscored(firstStage.getValue().floatValue()),
            "fuserank_itm did not rescore this hit (" + reason + "): " + unscoredFormula(formula), firstStage);
    }

    /**
     * A hit below the rescore window. Its score in the response may be lower than this, capped under
     * the window ({@link io.fuserank.reranker.RescoredRanking}); explain sees one hit and cannot know the cap.
     */
    static Explanation outsideWindow(ScoreFormula formula, Explanation firstStage, int windowSize) {
        return Explanation.match(formula.unscored(firstStage.getValue().floatValue()),
            "fuserank_itm did not rescore this hit (outside the rescore window of [" + windowSize + "] hits, ranked below it): "
                + unscoredFormula(formula), firstStage);
    }

    private static String unscoredFormula(ScoreFormula formula) {
        return formula.mode() == io.fuserank.reranker.ScoreMode.BLEND
            ? "query_weight [" + formula.queryWeight() + "] * first-stage score" : "first-stage score kept";
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
