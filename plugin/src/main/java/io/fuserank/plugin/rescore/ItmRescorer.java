package io.fuserank.plugin.rescore;

import io.fuserank.reranker.RescoredRanking;
import io.fuserank.reranker.ScoreFormula;
import org.apache.lucene.search.Explanation;
import org.apache.lucene.search.IndexSearcher;
import org.apache.lucene.search.ScoreDoc;
import org.apache.lucene.search.TopDocs;
import org.elasticsearch.search.rescore.RescoreContext;
import org.elasticsearch.search.rescore.Rescorer;

import java.io.IOException;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;

/**
 * Reranks a shard's top window with the fusion encoder's ITM head, ALBEF's second stage
 * (arXiv 2107.07651: ITC retrieves the top-k, ITM reranks them): every candidate of the window is
 * scored against the query in one batched call, the window is re-sorted by the new score, and the
 * hits below the window follow in their first-stage order.
 *
 * <p>Scores and order follow the one definition in reranker/ ({@link ScoreFormula} for each hit's
 * score, {@link RescoredRanking} for the order, the hits below the window capped just under it), the
 * code the CLI's client-side rerank calls too. Explain reuses the parts the rescore computed for the
 * window ({@link ItmRescoreContext#parts}) and runs no inference of its own. A hit inside the window
 * without token features (or, in {@code itm_plus_itc}, without a stored vector), or whose stored
 * features cannot be scored, is not
 * rescored: it keeps its first-stage score and its place by that score, explain says why, and the
 * second kind is counted in a response warning ({@link UnscoredHitsWarning}); the search succeeds.
 * It fails with a 400 only when every candidate's features have the query's own modality, which
 * means the request names the wrong field ({@link WindowScorer#failIfAllOfTheQueryModality}). No
 * score it gives is NaN or infinite ({@link WindowScorer}).
 */
final class ItmRescorer implements Rescorer {

    @Override
    public TopDocs rescore(TopDocs topDocs, IndexSearcher searcher, RescoreContext rescoreContext) throws IOException {
        if (topDocs == null || topDocs.scoreDocs.length == 0) {
            return topDocs;
        }
        ItmRescoreContext ctx = (ItmRescoreContext) rescoreContext;
        ScoreFormula formula = ctx.formula();
        ScoreDoc[] hits = topDocs.scoreDocs;
        int window = Math.min(ctx.getWindowSize(), hits.length);
        int[] docs = new int[window];
        float[] firstStage = new float[window];
        Set<Integer> rescored = new HashSet<>();
        for (int i = 0; i < window; i++) {
            docs[i] = hits[i].doc;
            firstStage[i] = hits[i].score;
            rescored.add(hits[i].doc);
        }
        ctx.setRescoredDocs(rescored);

        CandidateReader.Candidate[] candidates = ctx.reader().read(searcher.getIndexReader(), docs, ctx::checkCancellation);
        WindowScorer.Outcome[] outcomes = WindowScorer.score(ctx, candidates, firstStage);
        WindowScorer.failIfAllOfTheQueryModality(ctx, outcomes);
        UnscoredHitsWarning.report(ctx, searcher, docs, outcomes);
        ctx.keep(searcher.getIndexReader(), docs, outcomes);

        float[] windowScores = new float[window];
        float[] allFirstStage = new float[hits.length];
        for (int i = 0; i < hits.length; i++) {
            allFirstStage[i] = hits[i].score;
            if (i < window) {
                windowScores[i] = outcomes[i].score();
            }
        }
        RescoredRanking ranking = RescoredRanking.rank(formula, allFirstStage, windowScores, docs);
        ScoreDoc[] out = new ScoreDoc[hits.length];
        for (int r = 0; r < hits.length; r++) {
            ScoreDoc hit = hits[ranking.order()[r]];
            out[r] = new ScoreDoc(hit.doc, ranking.scores()[r], hit.shardIndex);
        }
        assert Arrays.stream(out).allMatch(hit -> Float.isFinite(hit.score)) : "a non-finite rescored score";
        return new TopDocs(topDocs.totalHits, out);
    }

    @Override
    public Explanation explain(int topLevelDocId, IndexSearcher searcher, RescoreContext rescoreContext, Explanation sourceExplanation)
        throws IOException {
        if (sourceExplanation == null) {
            return Explanation.noMatch("nothing matched");
        }
        ItmRescoreContext ctx = (ItmRescoreContext) rescoreContext;
        ScoreFormula formula = ctx.formula();
        if (ctx.isRescored(topLevelDocId) == false) {
            return ScoreExplanation.outsideWindow(formula, sourceExplanation, ctx.getWindowSize());
        }
        WindowScorer.Parts parts = ctx.parts(searcher.getIndexReader(), topLevelDocId);
        WindowScorer.Outcome outcome = WindowScorer.outcome(formula, parts, sourceExplanation.getValue().floatValue());
        return outcome.scored()
            ? ScoreExplanation.scored(formula, sourceExplanation, ctx.modelId(), parts.itm(), parts.itc(), ctx.vectorField())
            : ScoreExplanation.unscored(formula, sourceExplanation, outcome.reason());
    }
}
