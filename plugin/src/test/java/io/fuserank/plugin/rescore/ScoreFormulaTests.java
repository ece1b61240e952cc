package io.fuserank.plugin.rescore;

import io.fuserank.encoder.TokenFeatures;
import io.fuserank.reranker.ScoreMode;
import org.apache.lucene.search.Explanation;
import org.elasticsearch.test.ESTestCase;

import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.greaterThan;

/** The three score modes, the non-negative map and the explanations' agreement with the scores. */
public class ScoreFormulaTests extends ESTestCase {

    public void testNonNegativeIsPositiveIncreasingAndContinuous() {
        assertEquals(1f, ScoreFormula.nonNegative(0f), 0f);
        assertEquals(3.5f, ScoreFormula.nonNegative(2.5f), 0f);
        assertEquals(0.2f, ScoreFormula.nonNegative(-4f), 1e-7f);
        float previous = ScoreFormula.nonNegative(-1000f);
        assertThat(previous, greaterThan(0f));
        for (float x = -999f; x < 1000f; x += 0.25f) {
            float y = ScoreFormula.nonNegative(x);
            assertThat("at [" + x + "]", y, greaterThan(previous));
            previous = y;
        }
    }

    public void testModes() {
        float first = 0.9f;
        float itm = -2f;
        float itc = 0.5f;
        assertEquals(ScoreFormula.nonNegative(itm), new ScoreFormula(ScoreMode.ITM, 1, 1, 1).combine(first, itm, itc), 0f);
        assertEquals(ScoreFormula.nonNegative(itm + itc), new ScoreFormula(ScoreMode.ITM_PLUS_ITC, 1, 1, 1).combine(first, itm, itc), 0f);
        assertEquals(ScoreFormula.nonNegative(itm + 64 * itc), new ScoreFormula(ScoreMode.ITM_PLUS_ITC, 1, 1, 64).combine(first, itm, itc),
            0f);
        assertEquals(ScoreFormula.nonNegative(itm), new ScoreFormula(ScoreMode.ITM, 1, 1, 64).combine(first, itm, itc), 0f);
        assertEquals(ScoreFormula.nonNegative(0.5f * first + 2 * itm),
            new ScoreFormula(ScoreMode.BLEND, 0.5f, 2f, 1).combine(first, itm, itc), 1e-7f);
        assertEquals(first, new ScoreFormula(ScoreMode.ITM_PLUS_ITC, 1, 1, 1).unscored(first), 0f);
        assertEquals(0.45f, new ScoreFormula(ScoreMode.BLEND, 0.5f, 2f, 1).unscored(first), 1e-7f);
        assertTrue(new ScoreFormula(ScoreMode.ITM_PLUS_ITC, 1, 1, 1).needsItc());
        assertFalse(new ScoreFormula(ScoreMode.BLEND, 1, 1, 1).needsItc());
    }

    /** The score a hit keeps when it is not rescored is finite even where the first stage or the weight is extreme. */
    public void testAnUnscoredHitsScoreIsAlwaysFinite() {
        ScoreFormula blend = new ScoreFormula(ScoreMode.BLEND, Float.MAX_VALUE, 1f, 1f);
        assertEquals(Float.MAX_VALUE, blend.unscored(10f), 0f);
        assertEquals(0f, blend.unscored(Float.NaN), 0f);
        assertEquals(0f, new ScoreFormula(ScoreMode.ITM, 1, 1, 1).unscored(Float.NaN), 0f);
        assertEquals(Float.MAX_VALUE, new ScoreFormula(ScoreMode.ITM, 1, 1, 1).unscored(Float.POSITIVE_INFINITY), 0f);
    }

    public void testTheRequestsItcWeightElseTheModels() {
        EncodedQuery query = new EncodedQuery(new float[] {1f}, new TokenFeatures(1, 1, 1, new float[] {1f}), 256f);
        ItmOptions named = new ItmOptions("m", "x", null, null, null, null, null, null, 4f).validated();
        ItmOptions unnamed = new ItmOptions("m", "x", null, null, null, null, null, null, null).validated();
        assertEquals(4f, ScoreFormula.of(named, query).itcWeight(), 0f);
        assertEquals(256f, ScoreFormula.of(unnamed, query).itcWeight(), 0f);
    }

    public void testExplanationsCarryTheScore() {
        Explanation first = Explanation.match(0.75f, "knn");
        for (ScoreMode mode : ScoreMode.values()) {
            ScoreFormula formula = new ScoreFormula(mode, randomFloat(), randomFloat() * 2, randomFloat() * 100);
            float itm = randomFloat() * 10 - 5;
            float itc = randomFloat() * 2 - 1;
            Explanation explained = formula.explain(first, "fuserank-small", itm, itc, "image_vector");
            assertEquals(mode.toString(), formula.combine(0.75f, itm, itc), explained.getValue().floatValue(), 1e-6f);
            assertThat(explained.toString(), containsString("ITM match logit of the fusion encoder of model [fuserank-small]"));
            assertThat(explained.toString(), containsString("ITC dot product of the query embedding and the document's [image_vector]"));
            Explanation unscored = formula.explainUnscored(first, "no token features in [image_features]");
            assertEquals(formula.unscored(0.75f), unscored.getValue().floatValue(), 0f);
            assertThat(unscored.getDescription(), containsString("no token features in [image_features]"));
        }
    }
}
