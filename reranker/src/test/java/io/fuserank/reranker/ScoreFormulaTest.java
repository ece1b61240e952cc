package io.fuserank.reranker;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Each score mode, the non-negative map, the unscored rule and the manifest's statement of them. */
class ScoreFormulaTest {

    private static final float FIRST = 0.9f;
    private static final float ITM = -2.5f;
    private static final float ITC = 0.25f;

    @Test
    void aScoredHitWhosePartsGiveNoFiniteScoreCountsAsUnscored() {
        ScoreFormula formula = new ScoreFormula(ScoreMode.ITM_PLUS_ITC, 1f, 1f, 256f);
        assertNull(formula.notFinite(0.5f, 1.5f, 0.9f));
        assertNull(formula.notFinite(0.5f, 1.5f, null));
        assertEquals("its ITC part is [NaN]", formula.notFinite(0.5f, 1.5f, Float.NaN));
        assertEquals("its score is [Infinity]", formula.notFinite(0.5f, 1.5f, Float.MAX_VALUE));
        assertEquals("its score is [NaN]", new ScoreFormula(ScoreMode.ITM, 1f, 1f, 1f).notFinite(0.5f, Float.NaN, null));
    }

    @Test
    void itmIsTheLogitAlone() {
        ScoreFormula itm = new ScoreFormula(ScoreMode.ITM, 7f, 7f, 64f);
        assertEquals(ITM, itm.raw(FIRST, ITM, ITC), 0f);
        assertEquals(1 / (1 - ITM), itm.score(FIRST, ITM, ITC), 0f);
        assertFalse(itm.needsItc());
    }

    @Test
    void itmPlusItcAddsTheWeightedDotProduct() {
        assertEquals(ITM + ITC, new ScoreFormula(ScoreMode.ITM_PLUS_ITC, 1, 1, 1).raw(FIRST, ITM, ITC), 0f);
        assertEquals(ITM + 64f * ITC, new ScoreFormula(ScoreMode.ITM_PLUS_ITC, 1, 1, 64).raw(FIRST, ITM, ITC), 0f);
        assertEquals(13.5f + 1, new ScoreFormula(ScoreMode.ITM_PLUS_ITC, 1, 1, 64).score(FIRST, ITM, ITC), 0f);
        assertTrue(new ScoreFormula(ScoreMode.ITM_PLUS_ITC, 1, 1, 1).needsItc());
    }

    @Test
    void blendIsTheQueryRescorerTotal() {
        ScoreFormula blend = new ScoreFormula(ScoreMode.BLEND, 0.5f, 2f, 64f);
        assertEquals(0.5f * FIRST + 2f * ITM, blend.raw(FIRST, ITM, ITC), 0f);
        assertFalse(blend.needsItc());
        assertEquals(0.45f, blend.unscored(FIRST), 0f);
    }

    @Test
    void nonNegativeIsPositiveIncreasingAndContinuous() {
        assertEquals(1f, ScoreFormula.nonNegative(0f), 0f);
        assertEquals(3.5f, ScoreFormula.nonNegative(2.5f), 0f);
        assertEquals(0.2f, ScoreFormula.nonNegative(-4f), 1e-7f);
        assertEquals(1f, ScoreFormula.nonNegative(-Float.MIN_VALUE), 0f);
        Random random = new Random(19);
        for (int i = 0; i < 10_000; i++) {
            float a = (random.nextFloat() - 0.5f) * 200;
            float b = (random.nextFloat() - 0.5f) * 200;
            assertTrue(ScoreFormula.nonNegative(a) > 0);
            assertEquals(Float.compare(a, b), Float.compare(ScoreFormula.nonNegative(a), ScoreFormula.nonNegative(b)),
                a + " vs " + b);
        }
    }

    @Test
    void unscoredKeepsTheFirstStageScoreAndIsAlwaysFinite() {
        ScoreFormula itm = new ScoreFormula(ScoreMode.ITM, 1, 1, 1);
        assertEquals(FIRST, itm.unscored(FIRST), 0f);
        assertEquals(FIRST, new ScoreFormula(ScoreMode.ITM_PLUS_ITC, 1, 1, 1).unscored(FIRST), 0f);
        assertEquals(0f, itm.unscored(Float.NaN), 0f);
        assertEquals(Float.MAX_VALUE, itm.unscored(Float.POSITIVE_INFINITY), 0f);
        assertEquals(Float.MAX_VALUE, new ScoreFormula(ScoreMode.BLEND, Float.MAX_VALUE, 1, 1).unscored(2f), 0f);
    }

    @Test
    void weightsMustBeFiniteAndNonNegative() {
        assertEquals("[itc_weight] must be a finite number >= 0, got [-1.0]",
            assertThrows(IllegalArgumentException.class, () -> new ScoreFormula(ScoreMode.ITM_PLUS_ITC, 1, 1, -1)).getMessage());
        assertEquals("[query_weight] must be a finite number >= 0, got [NaN]",
            assertThrows(IllegalArgumentException.class, () -> new ScoreFormula(ScoreMode.BLEND, Float.NaN, 1, 1)).getMessage());
    }

    @Test
    void itcIsTheFloatDotProductInIndexOrder() {
        assertEquals(0.5f * 2f + 0.25f * -4f + 1f * 3f, ScoreFormula.itc(new float[] {0.5f, 0.25f, 1f}, new float[] {2f, -4f, 3f}), 0f);
        assertEquals("the query embedding has [2] dims, the document's vector [1]",
            assertThrows(IllegalArgumentException.class, () -> ScoreFormula.itc(new float[2], new float[1])).getMessage());
    }

    @Test
    void modeLabelsAreTheOneNameOfEachMode() {
        assertEquals(ScoreMode.ITM_PLUS_ITC, ScoreMode.fromLabel("itm_plus_itc"));
        assertEquals("unknown score mode [itm+itc], valid: [itm, itm_plus_itc, blend]",
            assertThrows(IllegalArgumentException.class, () -> ScoreMode.fromLabel("itm+itc")).getMessage());
    }

    /** export.py writes the manifest's score section; it must state what this code computes. */
    @Test
    void theShippedManifestStatesTheseFormulas() throws IOException {
        JsonNode score = new ObjectMapper().readTree(FusionScorerTest.SHIPPED.resolve("manifest.json").toFile()).path("score");
        for (ScoreMode mode : ScoreMode.values()) {
            assertEquals(mode.formula(), score.path("modes").path(mode.label()).asText(), mode.label());
        }
        assertEquals(ScoreMode.values().length, score.path("modes").size());
        assertEquals(ScoreFormula.FINAL, score.path("final").asText());
        assertEquals(ScoreFormula.UNSCORED, score.path("unscored").asText());
    }
}
