package io.fuserank.tools;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

class DocumentIdsTest {

    @Test
    void theIdIsTheSha1HexOfTheRelativePath() {
        // printf %s images/test/000007.png | sha1sum
        assertEquals("16400c8cc7b5d0d4bfc6fcdf28dc62e97f3847bb", DocumentIds.forPath("images/test/000007.png"));
    }

    @Test
    void equivalentSpellingsOfAPathGiveOneId() {
        String id = DocumentIds.forPath("images/test/000007.png");
        assertEquals(id, DocumentIds.forPath("./images/test/000007.png"));
        assertEquals(id, DocumentIds.forPath("images//test/../test/000007.png"));
        assertEquals(id, DocumentIds.forPath("images\\test\\000007.png"));
        assertNotEquals(id, DocumentIds.forPath("images/test/000008.png"));
    }

    @Test
    void aCaptionsIdIsTheSha1HexOfItsImagePathAndPosition() {
        // printf %s 'images/test/000007.png#2' | sha1sum
        assertEquals("77efc95117127c3bc022db7dc6d730aaad12cdba", DocumentIds.forCaption("images/test/000007.png", 2));
        assertEquals(DocumentIds.forCaption("images/test/000007.png", 2), DocumentIds.forCaption("./images/test/000007.png", 2));
        assertNotEquals(DocumentIds.forCaption("images/test/000007.png", 2), DocumentIds.forCaption("images/test/000007.png", 3));
        assertNotEquals(DocumentIds.forPath("images/test/000007.png"), DocumentIds.forCaption("images/test/000007.png", 0));
    }

    @Test
    void normalizeKeepsTheRootOfAnAbsolutePath() {
        assertEquals("/data/a.png", DocumentIds.normalize("/data/./a.png"));
        assertEquals("a/b.png", DocumentIds.normalize("./a/b.png"));
    }
}
