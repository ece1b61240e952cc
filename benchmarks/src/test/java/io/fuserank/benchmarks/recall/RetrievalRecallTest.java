package io.fuserank.benchmarks.recall;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RetrievalRecallTest {

    /**
     * Three images with two captions each (captions 0,1 → image 0; 2,3 → image 1; 4,5 → image 2),
     * the layout of Flickr30K/COCO with five. The ranks were worked out by hand.
     */
    private static final int[] CAPTION_IMAGE = {0, 0, 1, 1, 2, 2};
    private static final int[][] IMAGE_CAPTIONS = {{0, 1}, {2, 3}, {4, 5}};

    @Test
    void textToImageRanksArePositionsOfTheOneImage() {
        float[][] t2i = {
            {0.9f, 0.1f, 0.0f},  // caption 0: image 0 first → rank 0
            {0.2f, 0.8f, 0.5f},  // caption 1: image 0 last → rank 2
            {0.1f, 0.7f, 0.3f},  // caption 2: image 1 first → 0
            {0.6f, 0.5f, 0.4f},  // caption 3: image 1 second → 1
            {0.3f, 0.2f, 0.1f},  // caption 4: image 2 last → 2
            {0.0f, 0.0f, 0.9f},  // caption 5: image 2 first → 0
        };
        int[] ranks = RetrievalRecall.textToImageRanks(t2i, CAPTION_IMAGE);
        assertArrayEquals(new int[] {0, 2, 0, 1, 2, 0}, ranks);
        RetrievalRecall.Direction ir = RetrievalRecall.Direction.fromRanks(ranks);
        assertEquals(50.0, ir.r1(), 1e-9);
        assertEquals(100.0, ir.r5(), 1e-9);
        assertEquals(100.0, ir.r10(), 1e-9);
    }

    @Test
    void imageToTextRankIsTheBestOfTheImagesCaptions() {
        float[][] i2t = {
            // image 0: caption 0 is 4th, caption 1 is 2nd → rank 1 (the better one)
            {0.5f, 0.8f, 0.9f, 0.1f, 0.2f, 0.3f},
            // image 1: its captions 2 and 3 are 5th and 6th → rank 4
            {0.9f, 0.8f, 0.1f, 0.0f, 0.7f, 0.6f},
            // image 2: caption 5 first → rank 0
            {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.9f},
        };
        int[] ranks = RetrievalRecall.imageToTextRanks(i2t, IMAGE_CAPTIONS);
        assertArrayEquals(new int[] {1, 4, 0}, ranks);
        RetrievalRecall.Direction tr = RetrievalRecall.Direction.fromRanks(ranks);
        assertEquals(100.0 / 3, tr.r1(), 1e-9);
        assertEquals(100.0, tr.r5(), 1e-9);
    }

    @Test
    void rsumAndMeansFollowAlbef() {
        RetrievalRecall.Recall recall = new RetrievalRecall.Recall(new RetrievalRecall.Direction(10, 40, 70),
            new RetrievalRecall.Direction(20, 50, 80));
        assertEquals(40.0, recall.text().mean(), 1e-9);
        assertEquals(50.0, recall.image().mean(), 1e-9);
        assertEquals(45.0, recall.rMean(), 1e-9);
        assertEquals(270.0, recall.rsum(), 1e-9);
        assertEquals(270.0, recall.toJson().path("rsum").asDouble(), 1e-9);
        assertTrue(Double.isNaN(new RetrievalRecall.Recall(null, recall.image()).rsum()));
        assertTrue(new RetrievalRecall.Recall(null, recall.image()).toJson().has("tr_r1") == false);
    }

    @Test
    void tiesRankTheLowerIndexFirst() {
        float[] row = {0.5f, 0.5f, 0.5f};
        assertEquals(0, RetrievalRecall.rankOf(row, 0));
        assertEquals(2, RetrievalRecall.rankOf(row, 2));
    }

    @Test
    void rankedListsGiveRanksAndMissesCountAsMisses() {
        assertEquals(2, RetrievalRecall.firstRelevant(new int[] {7, 3, 5, 5}, i -> i == 5));
        assertEquals(RetrievalRecall.NOT_FOUND, RetrievalRecall.firstRelevant(new int[] {7, 3}, i -> i == 5));
        int[] ranks = {0, 9, 10, RetrievalRecall.NOT_FOUND};
        assertEquals(25.0, RetrievalRecall.recallAt(ranks, 1), 1e-9);
        assertEquals(50.0, RetrievalRecall.recallAt(ranks, 10), 1e-9);
    }

    @Test
    void harnessRanksMapAnswersToTheSplitsNumbering() {
        EvalSplit split = new EvalSplit(null, java.util.List.of("a", "b", "c"), java.util.List.of("0", "1", "2", "3", "4", "5"),
            CAPTION_IMAGE, IMAGE_CAPTIONS);
        // text -> image answers: caption 3's image (1) is second
        int[][] t2i = {{0, 1}, {1, 0}, {1}, {2, 1}, {}, {2}};
        assertArrayEquals(new int[] {0, 1, 0, 1, RetrievalRecall.NOT_FOUND, 0}, RecallHarness.imageRanks(split, t2i));
        // image -> text answers: image 0's captions are 0 and 1; image 2 finds caption 5 third
        int[][] i2t = {{3, 1, 0}, {2}, {0, 1, 5}};
        assertArrayEquals(new int[] {1, 0, 2}, RecallHarness.captionRanks(split, i2t));
    }

    @Test
    void mismatchedShapesAreRefusedWithTheCounts() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
            () -> RetrievalRecall.textToImageRanks(new float[2][3], CAPTION_IMAGE));
        assertTrue(e.getMessage().contains("[2]") && e.getMessage().contains("[6]"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> RetrievalRecall.Direction.fromRanks(new int[0]));
    }
}
