package io.fuserank.plugin.rescore;

import io.fuserank.reranker.CandidateScores;
import io.fuserank.reranker.Rejection;
import io.fuserank.reranker.ScoreFormula;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Decides each candidate's final score in a rescore window: {@link ScoreFormula#score} of its ITM
 * and ITC parts where the fusion encoder scored it, else {@link ScoreFormula#unscored}, with the
 * reason. The rescore computes the {@link Parts} once; explain reuses them
 * ({@link ItmRescoreContext#parts}), so the two always agree and explain costs no inference.
 *
 * <p>A candidate is not scored when it has no token features or (for {@code itm_plus_itc}) no
 * vector, which is normal, or when what is stored cannot be scored: a blob the fusion scorer
 * rejects (corrupt, of another model, of the query's own modality, non-finite), several values in
 * the features field, or a non-finite ITC part or final score. Those are faults, reported to the
 * client per shard. No score this returns is NaN or infinite.
 */
final class WindowScorer {

    /**
     * What the rescore learnt of one candidate, independent of its first-stage score: {@code itm} and
     * {@code itc} where it was scored ({@code itc} null without a stored vector); {@code reason} says
     * why it was not scored (null if it was) and {@code fault} what kind of stored value is to blame
     * (null if none is).
     */
    record Parts(float itm, Float itc, String reason, Rejection.Kind fault) {
        boolean scored() {
            return reason == null;
        }
    }

    /** One candidate's final {@code score} and the parts it came from. */
    record Outcome(float score, Parts parts) {
        boolean scored() {
            return parts.scored();
        }

        String reason() {
            return parts.reason();
        }

        Rejection.Kind fault() {
            return parts.fault();
        }
    }

    private WindowScorer() {
    }

    /** The outcomes of {@code candidates}, whose first-stage scores are {@code firstStage}, in order. */
    static Outcome[] score(ItmRescoreContext ctx, CandidateReader.Candidate[] candidates, float[] firstStage) {
        Parts[] parts = parts(ctx, candidates);
        Outcome[] out = new Outcome[parts.length];
        for (int i = 0; i < parts.length; i++) {
            out[i] = outcome(ctx.formula(), parts[i], firstStage[i]);
        }
        return out;
    }

    /** The final score of a candidate with {@code parts} and first-stage score {@code firstStage}. */
    static Outcome outcome(ScoreFormula formula, Parts parts, float firstStage) {
        if (parts.scored() == false) {
            return new Outcome(formula.unscored(firstStage), parts);
        }
        String notFinite = formula.notFinite(firstStage, parts.itm(), parts.itc());
        if (notFinite != null) {
            return new Outcome(formula.unscored(firstStage), unscored(notFinite, Rejection.Kind.CORRUPT));
        }
        return new Outcome(formula.score(firstStage, parts.itm(), parts.itc() == null ? 0f : parts.itc()), parts);
    }

    /** The parts of {@code candidates}, in order, from one fusion call. */
    static Parts[] parts(ItmRescoreContext ctx, CandidateReader.Candidate[] candidates) {
        ScoreFormula formula = ctx.formula();
        Parts[] out = new Parts[candidates.length];
        List<Integer> rows = new ArrayList<>();
        List<byte[]> blobs = new ArrayList<>();
        for (int i = 0; i < candidates.length; i++) {
            CandidateReader.Candidate candidate = candidates[i];
            if (candidate.unusable() != null) {
                out[i] = unscored(candidate.unusable(), Rejection.Kind.CORRUPT);
            } else if (candidate.blob() == null) {
                out[i] = unscored("no token features in [" + ctx.featuresField() + "]", null);
            } else if (formula.needsItc() && candidate.vector() == null) {
                out[i] = unscored("no ITC vector in [" + ctx.vectorField() + "]", null);
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
            float[] vector = candidates[i].vector();
            out[i] = rejection != null ? unscored(rejection.reason(), rejection.kind())
                : new Parts(itm.score(j), vector == null ? null : ScoreFormula.itc(ctx.queryEmbedding(), vector), null, null);
        }
        return out;
    }

    private static Parts unscored(String reason, Rejection.Kind fault) {
        return new Parts(0f, null, reason, fault);
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
