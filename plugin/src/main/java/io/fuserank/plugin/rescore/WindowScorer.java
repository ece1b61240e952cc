package io.fuserank.plugin.rescore;

import io.fuserank.reranker.CandidateScores;
import io.fuserank.reranker.Rejection;
import org.apache.lucene.util.VectorUtil;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Decides each candidate's final score in a rescore window: the formula's combination of its ITM
 * and ITC parts where the fusion encoder scored it, else its first-stage score, with the reason.
 * The rescore and explain both use it, so they always agree.
 *
 * <p>A candidate is not scored when it has no token features or (for {@code itm_plus_itc}) no
 * vector, which is normal, or when what is stored cannot be scored: a blob the fusion scorer
 * rejects (corrupt, of another model, of the query's own modality, non-finite), several values in
 * the features field, or a non-finite ITC part or final score. Those are faults, reported to the
 * client per shard. No score this returns is NaN or infinite.
 */
final class WindowScorer {

    /**
     * One candidate's outcome: {@code score} is the final score; {@code itm} and {@code itc} are its
     * parts where it was scored ({@code itc} null without a stored vector). {@code reason} says why
     * it was not scored (null if it was) and {@code fault} what kind of stored value is to blame
     * (null if none is).
     */
    record Outcome(float score, float itm, Float itc, String reason, Rejection.Kind fault) {
        boolean scored() {
            return reason == null;
        }
    }

    private WindowScorer() {
    }

    /** The outcomes of {@code candidates}, whose first-stage scores are {@code firstStage}, in order. */
    static Outcome[] score(ItmRescoreContext ctx, CandidateReader.Candidate[] candidates, float[] firstStage) {
        ScoreFormula formula = ctx.formula();
        Outcome[] out = new Outcome[candidates.length];
        List<Integer> rows = new ArrayList<>();
        List<byte[]> blobs = new ArrayList<>();
        for (int i = 0; i < candidates.length; i++) {
            CandidateReader.Candidate candidate = candidates[i];
            if (candidate.unusable() != null) {
                out[i] = unscored(formula, firstStage[i], candidate.unusable(), Rejection.Kind.CORRUPT);
            } else if (candidate.blob() == null) {
                out[i] = unscored(formula, firstStage[i], "no token features in [" + ctx.featuresField() + "]", null);
            } else if (formula.needsItc() && candidate.vector() == null) {
                out[i] = unscored(formula, firstStage[i], "no ITC vector in [" + ctx.vectorField() + "]", null);
            } else {
                rows.add(i);
                blobs.add(candidate.blob());
            }
        }
        if (blobs.isEmpty()) {
            return out;
        }
        CandidateScores itm = ctx.fusion().score(blobs, ctx::checkCancellation);
        for (int j = 0; j < rows.size(); j++) {
            int i = rows.get(j);
            Rejection rejection = itm.rejection(j);
            out[i] = rejection != null
                ? unscored(formula, firstStage[i], rejection.reason(), rejection.kind())
                : combine(ctx, candidates[i].vector(), firstStage[i], itm.score(j));
        }
        return out;
    }

    private static Outcome combine(ItmRescoreContext ctx, float[] vector, float firstStage, float itm) {
        ScoreFormula formula = ctx.formula();
        Float itc = vector == null ? null : VectorUtil.dotProduct(ctx.queryEmbedding(), vector);
        if (itc != null && Float.isFinite(itc) == false) {
            return unscored(formula, firstStage, "the ITC dot product with [" + ctx.vectorField() + "] is [" + itc + "]",
                Rejection.Kind.CORRUPT);
        }
        float score = formula.combine(firstStage, itm, itc == null ? 0f : itc);
        if (Float.isFinite(score) == false) {
            return unscored(formula, firstStage, "the combined score is [" + score + "]", Rejection.Kind.CORRUPT);
        }
        return new Outcome(score, itm, itc, null, null);
    }

    private static Outcome unscored(ScoreFormula formula, float firstStage, String reason, Rejection.Kind fault) {
        return new Outcome(formula.unscored(firstStage), 0f, null, reason, fault);
    }

    /**
     * Fails the rescore when the request points at features of the query's own modality: every
     * candidate with stored features holds them (a text query over caption features, say). That is
     * a mistake in the request, not in a few documents, so it is a 400 naming the field, its
     * value, what it holds and the layout the model needs.
     */
    static void failIfAllOfTheQueryModality(ItmRescoreContext ctx, Outcome[] outcomes) {
        Outcome first = null;
        for (Outcome outcome : outcomes) {
            boolean hasFeatures = outcome.scored() || outcome.fault() != null;
            if (hasFeatures && outcome.fault() != Rejection.Kind.WRONG_MODALITY) {
                return;
            }
            if (first == null && hasFeatures) {
                first = outcome;
            }
        }
        if (first != null) {
            throw new IllegalArgumentException(String.format(Locale.ROOT, "[%s] [%s] [%s] holds %s", ItmRescorerBuilder.NAME,
                ItmOptions.FEATURES_FIELD.getPreferredName(), ctx.featuresField(), first.reason()));
        }
    }
}
