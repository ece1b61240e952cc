package io.fuserank.benchmarks.recall;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.Arrays;
import java.util.Locale;
import java.util.function.IntPredicate;

/**
 * Recall@K exactly as ALBEF's {@code itm_eval} ({@code Retrieval.py}, arXiv 2107.07651) and
 * {@code encoder/training/retrieval_eval.py} compute it, so the engine's numbers sit next to the
 * papers' tables and the trainer's. Text retrieval (TR, image → text): an image's rank is the best
 * position of any of its captions. Image retrieval (IR, text → image): a caption's rank is the
 * position of its one image. {@code R@K = 100 · mean(rank < K)}; ranks are 0-based.
 *
 * <p>The engine answers with ranked hit lists, not score matrices, so ranks are taken from lists
 * ({@link #firstRelevant}); a query whose relevant item is not in its list has rank
 * {@link #NOT_FOUND}, which counts as a miss at every K (the list must hold at least 10 hits for
 * R@10 to be exact). Departure: for score matrices ({@link #textToImageRanks}) equal scores rank
 * the lower index first, where ALBEF's {@code np.argsort} leaves ties in an unspecified order.
 */
public final class RetrievalRecall {

    /** Rank of a query whose relevant item was not returned. */
    public static final int NOT_FOUND = Integer.MAX_VALUE;

    private static final ObjectMapper JSON = new ObjectMapper();

    private RetrievalRecall() {
    }

    /** R@1/5/10 of one direction, in percent. */
    public record Direction(double r1, double r5, double r10) {
        public double mean() {
            return (r1 + r5 + r10) / 3;
        }

        public static Direction fromRanks(int[] ranks) {
            if (ranks.length == 0) {
                throw new IllegalArgumentException("no queries: recall needs at least one rank");
            }
            return new Direction(recallAt(ranks, 1), recallAt(ranks, 5), recallAt(ranks, 10));
        }
    }

    /** Both directions; either may be null when a mode ran one direction only. */
    public record Recall(Direction text, Direction image) {

        /** ALBEF's {@code r_mean}: the mean of TR mean and IR mean (NaN unless both ran). */
        public double rMean() {
            return text == null || image == null ? Double.NaN : (text.mean() + image.mean()) / 2;
        }

        /** The sum of the six recalls (NaN unless both ran). */
        public double rsum() {
            return text == null || image == null ? Double.NaN
                : text.r1() + text.r5() + text.r10() + image.r1() + image.r5() + image.r10();
        }

        /** The keys of the results index mapping ({@code tr_r1} ... {@code rsum}); absent parts are left out. */
        public ObjectNode toJson() {
            ObjectNode node = JSON.createObjectNode();
            if (text != null) {
                node.put("tr_r1", round(text.r1())).put("tr_r5", round(text.r5())).put("tr_r10", round(text.r10()))
                    .put("tr_mean", round(text.mean()));
            }
            if (image != null) {
                node.put("ir_r1", round(image.r1())).put("ir_r5", round(image.r5())).put("ir_r10", round(image.r10()))
                    .put("ir_mean", round(image.mean()));
            }
            if (text != null && image != null) {
                node.put("r_mean", round(rMean())).put("rsum", round(rsum()));
            }
            return node;
        }
    }

    /** {@code 100 · mean(rank < k)}. */
    public static double recallAt(int[] ranks, int k) {
        long hits = Arrays.stream(ranks).filter(rank -> rank < k).count();
        return 100.0 * hits / ranks.length;
    }

    /** The position of the first relevant item in a ranked list, or {@link #NOT_FOUND}. */
    public static int firstRelevant(int[] ranked, IntPredicate relevant) {
        for (int position = 0; position < ranked.length; position++) {
            if (relevant.test(ranked[position])) {
                return position;
            }
        }
        return NOT_FOUND;
    }

    /** IR ranks from a {@code [captions][images]} score matrix: each caption's image's rank in its row. */
    public static int[] textToImageRanks(float[][] scores, int[] captionImage) {
        if (scores.length != captionImage.length) {
            throw new IllegalArgumentException(String.format(Locale.ROOT,
                "the score matrix has [%d] caption rows but there are [%d] captions", scores.length, captionImage.length));
        }
        int[] ranks = new int[scores.length];
        for (int t = 0; t < scores.length; t++) {
            ranks[t] = rankOf(scores[t], captionImage[t]);
        }
        return ranks;
    }

    /** TR ranks from an {@code [images][captions]} score matrix: the best rank of any of the image's captions. */
    public static int[] imageToTextRanks(float[][] scores, int[][] imageCaptions) {
        if (scores.length != imageCaptions.length) {
            throw new IllegalArgumentException(String.format(Locale.ROOT,
                "the score matrix has [%d] image rows but there are [%d] images", scores.length, imageCaptions.length));
        }
        int[] ranks = new int[scores.length];
        for (int i = 0; i < scores.length; i++) {
            int best = NOT_FOUND;
            for (int caption : imageCaptions[i]) {
                best = Math.min(best, rankOf(scores[i], caption));
            }
            ranks[i] = best;
        }
        return ranks;
    }

    /** Candidates scoring above {@code target}, plus equal ones with a lower index. */
    static int rankOf(float[] row, int target) {
        float score = row[target];
        int rank = 0;
        for (int j = 0; j < row.length; j++) {
            if (row[j] > score || (row[j] == score && j < target)) {
                rank++;
            }
        }
        return rank;
    }

    private static double round(double value) {
        return Math.round(value * 100) / 100.0;
    }
}
