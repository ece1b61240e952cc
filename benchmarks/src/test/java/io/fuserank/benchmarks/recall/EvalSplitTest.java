package io.fuserank.benchmarks.recall;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class EvalSplitTest {

    @TempDir
    Path root;

    @Test
    void evalAndTrainingLayoutsNumberImagesAndCaptionsInFileOrder() throws IOException {
        Files.createFile(root.resolve("a.png"));
        Files.createFile(root.resolve("b.png"));
        Path ann = Files.writeString(root.resolve("ann.json"),
            "[{\"image\": \"a.png\", \"caption\": [\"a one\", \"a two\"]}, {\"image\": \"b.png\", \"caption\": \"b one\"},"
                + " {\"image\": \"b.png\", \"caption\": \"b two\"}]");
        EvalSplit split = EvalSplit.load(ann, root);
        assertEquals(List.of("a.png", "b.png"), split.imagePaths());
        assertEquals(List.of("a one", "a two", "b one", "b two"), split.captions());
        assertArrayEquals(new int[] {0, 0, 1, 1}, split.captionImage());
        assertArrayEquals(new int[] {2, 3}, split.imageCaptions()[1]);

        EvalSplit first = split.limit(1);
        assertEquals(List.of("a one", "a two"), first.captions());
        EvalSplit reread = EvalSplit.load(first.writeKarpathy(root.resolve("first.json")), root);
        assertEquals(first.captions(), reread.captions());
        assertEquals(first.imagePaths(), reread.imagePaths());
    }

    @Test
    void badEntriesAndMissingImagesAreNamed() throws IOException {
        Path bad = Files.writeString(root.resolve("bad.json"), "[{\"image\": \"a.png\"}]");
        IOException e = assertThrows(IOException.class, () -> EvalSplit.load(bad, root));
        assertTrue(e.getMessage().contains("entry [0]"), e.getMessage());
        Path missing = Files.writeString(root.resolve("missing.json"), "[{\"image\": \"nope.png\", \"caption\": [\"x\"]}]");
        e = assertThrows(IOException.class, () -> EvalSplit.load(missing, root));
        assertTrue(e.getMessage().contains("nope.png"), e.getMessage());
    }

    @Test
    void withoutDropsImagesWithTheirCaptionsAndRenumbers() throws IOException {
        for (String image : List.of("a.png", "b.png", "c.png")) {
            Files.createFile(root.resolve(image));
        }
        Path ann = Files.writeString(root.resolve("ann.json"),
            "[{\"image\": \"a.png\", \"caption\": [\"a one\", \"a two\"]}, {\"image\": \"b.png\", \"caption\": [\"b one\"]},"
                + " {\"image\": \"c.png\", \"caption\": [\"c one\", \"c two\"]}]");
        EvalSplit split = EvalSplit.load(ann, root).without(Set.of(1));
        assertEquals(List.of("a.png", "c.png"), split.imagePaths());
        assertEquals(List.of("a one", "a two", "c one", "c two"), split.captions());
        assertArrayEquals(new int[] {0, 0, 1, 1}, split.captionImage());
        assertArrayEquals(new int[] {2, 3}, split.imageCaptions()[1]);
        assertEquals(split.captions(), EvalSplit.load(split.writeKarpathy(root.resolve("kept.json")), root).captions());
    }
}
