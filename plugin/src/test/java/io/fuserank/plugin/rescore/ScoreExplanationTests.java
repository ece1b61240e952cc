package io.fuserank.plugin.rescore;

import io.fuserank.encoder.Encoding;
import io.fuserank.encoder.TokenFeatures;
import io.fuserank.reranker.RerankDefaults;
import io.fuserank.reranker.ScoreFormula;
import io.fuserank.reranker.ScoreMode;
import io.fuserank.reranker.ScorePart;
import org.apache.lucene.search.Explanation;
import org.elasticsearch.test.ESTestCase;

import java.util.ArrayList;
import java.util.List;

import static org.hamcrest.Matchers.containsString;

/** The explanation carries the score the rescorer gives and its parts under their documented keys. */
public class ScoreExplanationTests extends ESTestCase {

    public void testTheRequestsModeAndItcWeightElseTheModels() {
        EncodedQuery query = new EncodedQuery(new Encoding(new float[] {1f}, new TokenFeatures(1, 1, 1, new float[] {1f})),
            new RerankDefaults(ScoreMode.ITM_PLUS_ITC, 256f, true));
        ItmOptions named = new ItmOptions("m", "x", null, null, null, null, null, null, 4f).validated();
        ItmOptions unnamed = new ItmOptions("m", "x", null, null, null, null, null, null, null).validated();
        assertEquals(4f, named.formula(query.modelRerank()).itcWeight(), 0f);
        assertEquals(256f, unnamed.formula(query.modelRerank()).itcWeight(), 0f);
        ItmOptions blend = new ItmOptions("m", "x", null, null, null, "blend", 0.5f, 2f, null).validated();
        assertEquals(new ScoreFormula(ScoreMode.BLEND, 0.5f, 2f, 256f), blend.formula(query.modelRerank()));
        // An imported ALBEF's manifest asks for the ITM logit alone; a request may still ask for the sum.
        RerankDefaults albef = new RerankDefaults(ScoreMode.ITM, 1f, true);
        assertEquals(ScoreMode.ITM, unnamed.formula(albef).mode());
        assertEquals(new ScoreFormula(ScoreMode.ITM_PLUS_ITC, 1f, 1f, 4f), named.formula(albef));
        ItmOptions sum = new ItmOptions("m", "x", null, null, null, "itm_plus_itc", null, null, null).validated();
        assertEquals(new ScoreFormula(ScoreMode.ITM_PLUS_ITC, 1f, 1f, 1f), sum.formula(albef));
    }

    public void testExplanationsCarryTheScoreAndTheParts() {
        Explanation first = Explanation.match(0.75f, "knn");
        for (ScoreMode mode : ScoreMode.values()) {
            ScoreFormula formula = new ScoreFormula(mode, randomFloat(), randomFloat() * 2, randomFloat() * 100);
            float itm = randomFloat() * 10 - 5;
            float itc = randomFloat() * 2 - 1;
            Explanation explained = ScoreExplanation.scored(formula, first, "fuserank-small", itm, itc, "image_vector");
            assertEquals(mode.toString(), formula.score(0.75f, itm, itc), explained.getValue().floatValue(), 0f);
            assertEquals(mode.toString(), List.of(itm), values(explained, ScorePart.ITM));
            assertEquals(mode.toString(), List.of(itc), values(explained, ScorePart.ITC));
            assertThat(explained.toString(), containsString("itm: ITM match logit of the fusion encoder of model [fuserank-small]"));
            assertThat(explained.toString(), containsString("itc: ITC dot product of the query embedding and the document's [image_vector]"));
            Explanation unscored = ScoreExplanation.unscored(formula, first, "no token features in [image_features]");
            assertEquals(formula.unscored(0.75f), unscored.getValue().floatValue(), 0f);
            assertThat(unscored.getDescription(), containsString("no token features in [image_features]"));
            assertEquals(List.of(), values(unscored, ScorePart.ITM));
        }
    }

    public void testWithoutAStoredVectorThereIsNoItcPart() {
        Explanation explained = ScoreExplanation.scored(new ScoreFormula(ScoreMode.ITM, 1, 1, 1), Explanation.match(1f, "knn"), "m", 2f,
            null, "image_vector");
        assertEquals(List.of(2f), values(explained, ScorePart.ITM));
        assertEquals(List.of(), values(explained, ScorePart.ITC));
    }

    /** The values of every node that holds {@code part}, depth first: each part must appear exactly once. */
    private static List<Float> values(Explanation explanation, ScorePart part) {
        List<Float> out = new ArrayList<>();
        if (part.describes(explanation.getDescription())) {
            out.add(explanation.getValue().floatValue());
        }
        for (Explanation detail : explanation.getDetails()) {
            out.addAll(values(detail, part));
        }
        return out;
    }
}
