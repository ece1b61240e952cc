package io.fuserank.plugin.rescore;

import io.fuserank.reranker.CandidateException;
import org.apache.lucene.search.Explanation;
import org.apache.lucene.search.IndexSearcher;
import org.apache.lucene.search.ScoreDoc;
import org.apache.lucene.search.TopDocs;
import org.apache.lucene.util.VectorUtil;
import org.elasticsearch.search.rescore.RescoreContext;
import org.elasticsearch.search.rescore.Rescorer;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
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
 * {@code itm_plus_itc}, without a stored vector) is not rescored: it keeps its first-stage score and
 * its place by that score, and explain says why.
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
        Set<Integer> rescored = new HashSet<>();
        for (int i = 0; i < window; i++) {
            docs[i] = hits[i].doc;
            rescored.add(hits[i].doc);
        }
        ctx.setRescoredDocs(rescored);

        CandidateReader.Candidate[] candidates = ctx.reader().read(searcher.getIndexReader(), docs, ctx::checkCancellation);
        List<Integer> scoredRows = new ArrayList<>();
        List<byte[]> blobs = new ArrayList<>();
        for (int i = 0; i < window; i++) {
            if (scorable(candidates[i], formula)) {
                scoredRows.add(i);
                blobs.add(candidates[i].blob());
            }
        }
        float[] itm = blobs.isEmpty() ? new float[0] : score(ctx, blobs, scoredRows, docs);

        ScoreDoc[] out = new ScoreDoc[hits.length];
        for (int i = 0; i < window; i++) {
            out[i] = new ScoreDoc(hits[i].doc, formula.unscored(hits[i].score), hits[i].shardIndex);
        }
        for (int j = 0; j < scoredRows.size(); j++) {
            int i = scoredRows.get(j);
            float[] vector = candidates[i].vector();
            float itc = formula.needsItc() ? VectorUtil.dotProduct(ctx.queryEmbedding(), vector) : 0f;
            out[i].score = formula.combine(hits[i].score, itm[j], itc);
        }
        Arrays.sort(out, 0, window, SCORE_DOC_COMPARATOR);
        float floor = out[window - 1].score;
        for (int i = window; i < hits.length; i++) {
            float cap = i == window ? Math.max(0f, Math.nextDown(floor)) : floor;
            float score = Math.min(formula.unscored(hits[i].score), cap);
            out[i] = new ScoreDoc(hits[i].doc, score, hits[i].shardIndex);
            floor = score;
        }
        return new TopDocs(topDocs.totalHits, out);
    }

    private static boolean scorable(CandidateReader.Candidate candidate, ScoreFormula formula) {
        return candidate.blob() != null && (formula.needsItc() == false || candidate.vector() != null);
    }

    private static float[] score(ItmRescoreContext ctx, List<byte[]> blobs, List<Integer> rows, int[] docs) {
        try {
            return ctx.fusion().score(blobs, ctx::checkCancellation);
        } catch (CandidateException e) {
            throw new IllegalArgumentException(String.format(Locale.ROOT, "[%s] cannot rescore document [%d]: its [%s] value %s",
                ItmRescorerBuilder.NAME, docs[rows.get(e.candidate())], ctx.featuresField(), e.getMessage()), e);
        }
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
        CandidateReader.Candidate candidate =
            ctx.reader().read(searcher.getIndexReader(), new int[] {topLevelDocId}, ctx::checkCancellation)[0];
        if (candidate.blob() == null) {
            return formula.explainUnscored(sourceExplanation, "no token features in [" + ctx.featuresField() + "]");
        }
        if (scorable(candidate, formula) == false) {
            return formula.explainUnscored(sourceExplanation, "no ITC vector in [" + ctx.vectorField() + "]");
        }
        float itm = score(ctx, List.of(candidate.blob()), List.of(0), new int[] {topLevelDocId})[0];
        Float itc = candidate.vector() == null ? null : VectorUtil.dotProduct(ctx.queryEmbedding(), candidate.vector());
        return formula.explain(sourceExplanation, ctx.modelId(), itm, itc, ctx.vectorField());
    }
}
