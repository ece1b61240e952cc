package io.fuserank.reranker;

import com.fasterxml.jackson.databind.JsonNode;
import io.fuserank.encoder.ModelBundle;

/**
 * How a model's bundle recommends reranking with it, the defaults of a request that leaves them out:
 * the manifest's {@code rerank.score_mode} (each family's paper: ALBEF ranks by the ITM logit alone,
 * BLIP by ITM logit + ITC similarity; where the manifest names none, {@code itm_plus_itc} for a model
 * with an ITC embedding, as our own bundles, and {@code itm} for one without) and
 * {@code rerank.itc_weight} ({@link ModelBundle#itcWeight()}).
 *
 * @param hasItc whether the model has an ITC embedding ({@link ModelBundle#hasEmbedding()}); without
 *               one (BridgeTower's and ViLT's retrieval checkpoints) no formula may read ITC
 */
public record RerankDefaults(ScoreMode mode, float itcWeight, boolean hasItc) {

    public RerankDefaults {
        if (hasItc == false && new ScoreFormula(mode, 1f, 1f, itcWeight).needsItc()) {
            throw new IllegalArgumentException("score mode [" + mode.label() + "] " + NO_ITC);
        }
    }

    private static final String NO_ITC = "needs the model's ITC embedding, and this model has none ("
        + ModelBundle.NO_EMBEDDING + "): use score_mode [" + ScoreMode.ITM.label() + "] or [" + ScoreMode.BLEND.label() + "]";

    /** The defaults of a bundle; an IllegalArgumentException naming the value when its score mode is unknown or needs a missing ITC. */
    public static RerankDefaults of(ModelBundle bundle) {
        JsonNode label = bundle.manifest().path("rerank").path("score_mode");
        ScoreMode mode = bundle.hasEmbedding() ? ScoreMode.ITM_PLUS_ITC : ScoreMode.ITM;
        try {
            if (label.isMissingNode() == false) {
                mode = ScoreMode.fromLabel(label.asText());
            }
            return new RerankDefaults(mode, bundle.itcWeight(), bundle.hasEmbedding());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("model [" + bundle.name() + "]: manifest [rerank.score_mode] " + e.getMessage(), e);
        }
    }

    /**
     * The formula of a request: its own mode and ITC weight where it names them (null where not),
     * these defaults otherwise.
     *
     * @throws IllegalArgumentException where the formula reads ITC and the model has none
     */
    public ScoreFormula formula(ScoreMode requestedMode, Float requestedItcWeight, float queryWeight, float rescoreQueryWeight) {
        ScoreFormula formula = new ScoreFormula(requestedMode != null ? requestedMode : mode, queryWeight, rescoreQueryWeight,
            requestedItcWeight != null ? requestedItcWeight : itcWeight);
        if (hasItc == false && formula.needsItc()) {
            throw new IllegalArgumentException("score_mode [" + formula.mode().label() + "] " + NO_ITC);
        }
        return formula;
    }
}
