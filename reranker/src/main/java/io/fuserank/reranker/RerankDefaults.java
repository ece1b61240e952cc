package io.fuserank.reranker;

import com.fasterxml.jackson.databind.JsonNode;
import io.fuserank.encoder.ModelBundle;

/**
 * How a model's bundle recommends reranking with it, the defaults of a request that leaves them out:
 * the manifest's {@code rerank.score_mode} (each family's paper: ALBEF ranks by the ITM logit alone,
 * BLIP by ITM logit + ITC similarity; {@code itm_plus_itc} where the manifest names none, as our
 * own bundles) and {@code rerank.itc_weight} ({@link ModelBundle#itcWeight()}).
 */
public record RerankDefaults(ScoreMode mode, float itcWeight) {

    /** The defaults of a bundle; an IllegalArgumentException naming the value when its score mode is unknown. */
    public static RerankDefaults of(ModelBundle bundle) {
        JsonNode label = bundle.manifest().path("rerank").path("score_mode");
        ScoreMode mode = ScoreMode.ITM_PLUS_ITC;
        if (label.isMissingNode() == false) {
            try {
                mode = ScoreMode.fromLabel(label.asText());
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("model [" + bundle.name() + "]: manifest [rerank.score_mode] " + e.getMessage(), e);
            }
        }
        return new RerankDefaults(mode, bundle.itcWeight());
    }

    /**
     * The formula of a request: its own mode and ITC weight where it names them (null where not),
     * these defaults otherwise.
     */
    public ScoreFormula formula(ScoreMode requestedMode, Float requestedItcWeight, float queryWeight, float rescoreQueryWeight) {
        return new ScoreFormula(requestedMode != null ? requestedMode : mode, queryWeight, rescoreQueryWeight,
            requestedItcWeight != null ? requestedItcWeight : itcWeight);
    }
}
