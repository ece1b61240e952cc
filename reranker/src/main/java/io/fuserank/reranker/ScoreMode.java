package io.fuserank.reranker;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * How a reranked hit's raw score is formed from its parts: the fusion encoder's ITM match logit
 * ({@code itm}), the dot product of the query embedding and the document's stored ITC vector
 * ({@code itc}) and the hit's first-stage score ({@code first_stage}). One name per mode, the
 * {@link #label()}, in Java, Python ({@code encoder/training}), the manifest's {@code score} section
 * and the {@code fuserank_itm} rescorer's {@code score_mode} option; {@link ScoreFormula} computes it.
 * <ul>
 *   <li>{@code itm}: the ITM logit alone, as ALBEF ranks its top-k (arXiv 2107.07651, retrieval
 *       inference);</li>
 *   <li>{@code itm_plus_itc}: ITM logit + {@code itc_weight} * ITC, BLIP's sum with weight 1
 *       (arXiv 2201.12086), other weights as chosen on validation data
 *       ({@code encoder/training/blend_weight.py});</li>
 *   <li>{@code blend}: {@code query_weight} * first-stage score + {@code rescore_query_weight} * ITM
 *       logit, the total of Elasticsearch's query rescorer with the ITM logit as the rescore score.</li>
 * </ul>
 */
public enum ScoreMode {
    ITM("itm"),
    ITM_PLUS_ITC("itm + itc_weight * itc"),
    BLEND("query_weight * first_stage + rescore_query_weight * itm");

    private final String formula;

    ScoreMode(String formula) {
        this.formula = formula;
    }

    /** The mode's name everywhere: {@code itm}, {@code itm_plus_itc}, {@code blend}. */
    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** The raw score as the manifest's {@code score.modes} states it, in the part and option names. */
    public String formula() {
        return formula;
    }

    public static ScoreMode fromLabel(String label) {
        for (ScoreMode mode : values()) {
            if (mode.label().equals(label)) {
                return mode;
            }
        }
        throw new IllegalArgumentException("unknown score mode [" + label + "], valid: " + labels());
    }

    /** Every label, as {@code [itm, itm_plus_itc, blend]}, for error messages. */
    public static String labels() {
        return Arrays.stream(values()).map(ScoreMode::label).collect(Collectors.joining(", ", "[", "]"));
    }
}
