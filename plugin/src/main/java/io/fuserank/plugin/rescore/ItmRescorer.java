package io.fuserank.plugin.rescore;

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
 * <p>The Rescorer contract wants the result sorted by score. First-stage and ITM scores are on
 * different scales, so sorting the hits below the window together with the rescored ones (what the
 * query rescorer does) would interleave them arbitrarily; instead a hit below the window whose
 * first-stage score is above the window's lowest score is lowered to just below it (never below 0),
 * which keeps their order and the contract. Where {@code window_size} covers {@code from + size},
 * as it should, no hit is lowered. A hit inside the window without token features (or, in
 * {@code itm_plus_itc}, without a stored vector), or whose stored features cannot be scored, is not
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

        ScoreDoc[] out = new ScoreDoc[hits.length];
        for (int i = 0; i < window; i++) {
            out[i] = new ScoreDoc(hits[i].doc, outcomes[i].score(), hits[i].shardIndex);
        }
        Arrays.sort(out, 0, window, SCORE_DOC_COMPARATOR);
        float floor = out[window - 1].score;
        for (int i = window; i < hits.length; i++) {
            float cap = i == window ? Math.max(0f, Math.nextDown(floor)) : floor;
            float score = Math.min(formula.unscored(hits[i].score), cap);
            out[i] = new ScoreDoc(hits[i].doc, score, hits[i].shardIndex);
            floor = score;
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
            return formula.explainOutsideWindow(sourceExplanation, ctx.getWindowSize());
        }
        CandidateReader.Candidate[] candidate =
            ctx.reader().read(searcher.getIndexReader(), new int[] {topLevelDocId}, ctx::checkCancellation);
        WindowScorer.Outcome outcome =
            WindowScorer.score(ctx, candidate, new float[] {sourceExplanation.getValue().floatValue()})[0];
        return outcome.scored()
            ? formula.explain(sourceExplanation, ctx.modelId(), outcome.itm(), outcome.itc(), ctx.vectorField())
            : formula.explainUnscored(sourceExplanation, outcome.reason());
    }
}
