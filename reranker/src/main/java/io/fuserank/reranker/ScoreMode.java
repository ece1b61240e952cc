package io.fuserank.reranker;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * How a reranked hit's final score combines the fusion encoder's ITM score with its first-stage
 * ITC similarity.
 * <ul>
 *   <li>{@code itm}: the ITM head's match logit alone, as ALBEF ranks its top-k (arXiv 2107.07651,
 *       retrieval inference);</li>
 *   <li>{@code itm_plus_itc}: ITM logit + {@code itcWeight} * ITC similarity; with weight 1 as BLIP does
 *       (arXiv 2201.12086), other weights as chosen on validation data
 *       ({@code encoder/training/blend_weight.py});</li>
 *   <li>{@code blend}: {@code itmWeight * itm + itcWeight * itc}, for tuning on a user's data.</li>
 * </ul>
 */
public enum ScoreMode {
    ITM, ITM_PLUS_ITC, BLEND;

    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }

    public static ScoreMode fromLabel(String label) {
        for (ScoreMode mode : values()) {
            if (mode.label().equals(label)) {
                return mode;
            }
        }
        throw new IllegalArgumentException("unknown score mode [" + label + "], valid: "
            + Arrays.stream(values()).map(ScoreMode::label).collect(Collectors.joining(", ", "[", "]")));
    }

    /** The final score; {@code itmWeight} matters for {@code blend} only, {@code itcWeight} for {@code blend} and {@code itm_plus_itc}. */
    public float combine(float itm, float itc, float itmWeight, float itcWeight) {
        return switch (this) {
            case ITM -> itm;
            case ITM_PLUS_ITC -> itm + itcWeight * itc;
            case BLEND -> itmWeight * itm + itcWeight * itc;
        };
    }
}
