package io.fuserank.tools;

import ai.onnxruntime.OrtException;
import com.fasterxml.jackson.databind.JsonNode;
import io.fuserank.encoder.Encoding;
import io.fuserank.reranker.CandidateScores;
import io.fuserank.reranker.FusionScorer;
import io.fuserank.reranker.RescoredRanking;
import io.fuserank.reranker.ScoreFormula;

import java.util.ArrayList;
import java.util.Base64;
import java.util.List;

/**
 * {@code fuserank search --client-side}'s rerank: what the {@code fuserank_itm} rescorer does on a
 * shard, done here with the local bundle on a kNN response that carries each hit's stored token
 * features ({@code docvalue_fields}) and vector ({@code fields}). It calls the code the rescorer
 * calls (reranker/: {@link FusionScorer}, {@link ScoreFormula}, {@link RescoredRanking}), so the
 * scores are the plugin's; it only maps the response's hits onto it.
 *
 * <p>A hit of the window is scored when it has features and (for {@code itm_plus_itc}) a vector, the
 * fusion scorer accepts its blob and its parts give a finite score ({@link ScoreFormula#notFinite});
 * otherwise it keeps {@link ScoreFormula#unscored}, as on a node.
 * Ties in the window are broken by first-stage rank here, by Lucene doc id on a node (a client
 * cannot see doc ids); scores are unaffected.
 */
final class ClientSideRerank {

    /** The ranked hits, and why each unscored hit of the window was not scored ({@code _id: reason}). */
    record Result(List<SearchRequests.Hit> hits, List<String> unscored) {
    }

    private ClientSideRerank() {
    }

    /** The top {@code plan.k()} hits of {@code response} reranked over the plan's window against {@code query}. */
    static Result rerank(FusionScorer scorer, ScoreFormula formula, SearchRequests.Plan plan, Encoding query, JsonNode response)
        throws OrtException {
        List<SearchRequests.Hit> first = SearchRequests.hits(response);
        JsonNode rawHits = response.path("hits").path("hits");
        int window = Math.min(plan.window(), first.size());
        List<String> unscored = new ArrayList<>();
        Float[] itm = new Float[window];
        Float[] itc = new Float[window];
        List<Integer> rows = new ArrayList<>();
        List<byte[]> blobs = new ArrayList<>();
        for (int i = 0; i < window; i++) {
            JsonNode fields = rawHits.get(i).path("fields");
            JsonNode features = fields.path(plan.featuresField());
            float[] vector = vector(fields.path(plan.vectorField()));
            if (features.size() != 1 || features.get(0).isTextual() == false) {
                unscored.add(first.get(i).id() + ": no token features in [" + plan.featuresField() + "]");
            } else if (formula.needsItc() && vector == null) {
                unscored.add(first.get(i).id() + ": no ITC vector in [" + plan.vectorField() + "]");
            } else {
                rows.add(i);
                blobs.add(Base64.getDecoder().decode(features.get(0).asText()));
                itc[i] = vector == null ? null : ScoreFormula.itc(query.embedding(), vector);
            }
        }
        if (blobs.isEmpty() == false) {
            CandidateScores scores = plan.query().isText()
                ? scorer.scoreImageCandidates(query, blobs) : scorer.scoreTextCandidates(query, blobs);
            for (int j = 0; j < rows.size(); j++) {
                int i = rows.get(j);
                if (scores.isScored(j)) {
                    itm[i] = scores.score(j);
                } else {
                    itc[i] = null;
                    unscored.add(first.get(i).id() + ": " + scores.rejection(j).reason());
                }
            }
        }
        float[] firstStage = new float[first.size()];
        for (int i = 0; i < firstStage.length; i++) {
            firstStage[i] = first.get(i).score();
        }
        float[] windowScores = new float[window];
        int[] keys = new int[window];
        for (int i = 0; i < window; i++) {
            String notFinite = itm[i] == null ? null : formula.notFinite(firstStage[i], itm[i], itc[i]);
            if (notFinite != null) {
                unscored.add(first.get(i).id() + ": " + notFinite);
                itm[i] = null;
                itc[i] = null;
            }
            windowScores[i] = itm[i] == null ? formula.unscored(firstStage[i])
                : formula.score(firstStage[i], itm[i], itc[i] == null ? 0f : itc[i]);
            keys[i] = i;
        }
        RescoredRanking ranking = RescoredRanking.rank(formula, firstStage, windowScores, keys);
        List<SearchRequests.Hit> ranked = new ArrayList<>();
        for (int r = 0; r < Math.min(plan.k(), first.size()); r++) {
            int i = ranking.order()[r];
            SearchRequests.Hit hit = first.get(i);
            boolean scored = i < window && itm[i] != null;
            ranked.add(new SearchRequests.Hit(r + 1, hit.index(), hit.id(), ranking.scores()[r], scored ? itm[i] : null,
                scored ? itc[i] : null, hit.source()));
        }
        return new Result(ranked, unscored);
    }

    /** A stored vector as {@code fields} returns it, or null where the hit has none. */
    private static float[] vector(JsonNode values) {
        if (values.isArray() == false || values.isEmpty()) {
            return null;
        }
        float[] vector = new float[values.size()];
        for (int d = 0; d < vector.length; d++) {
            vector[d] = values.get(d).floatValue();
        }
        return vector;
    }
}
