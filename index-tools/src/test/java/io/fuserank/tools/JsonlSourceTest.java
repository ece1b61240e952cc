package io.fuserank.tools;

import com.fasterxml.jackson.databind.node.TextNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

class JsonlSourceTest {

    @TempDir
    Path dir;

    private JsonlSource source(String lines) throws Exception {
        Path file = dir.resolve("images.jsonl");
        Files.writeString(file, lines);
        return new JsonlSource(file, dir.resolve("root"));
    }

    @Test
    void linesGiveTheirIdPathAndOtherFields() throws Exception {
        JsonlSource source = source("""
            {"id": "cat-1", "path": "cats/1.jpg", "captions": ["a cat"], "license": "cc-by"}

            {"id": 42, "path": "/abs/dog.png"}
            {"path": "birds/3.png"}
            """);
        assertEquals(3, source.size());
        List<SourceEntry> entries = source.entries().toList();
        SourceEntry.Image cat = assertInstanceOf(SourceEntry.Image.class, entries.get(0));
        assertEquals("cat-1", cat.id());
        assertEquals("cats/1.jpg", cat.path());
        assertEquals(dir.resolve("root/cats/1.jpg"), cat.file());
        assertEquals(List.of("captions", "license"), List.copyOf(cat.fields().keySet()));
        assertEquals(new TextNode("cc-by"), cat.fields().get("license"));
        SourceEntry.Image dog = assertInstanceOf(SourceEntry.Image.class, entries.get(1));
        assertEquals("42", dog.id());
        assertEquals(Path.of("/abs/dog.png"), dog.file());
        assertEquals(DocumentIds.forPath("birds/3.png"), ((SourceEntry.Image) entries.get(2)).id());
    }

    @Test
    void badLinesAreReportedWithTheirLineNumbers() throws Exception {
        List<SourceEntry> entries = source("""
            {"id": "ok", "path": "a.png"}
            {"id": "broken", "path": "b.png"
            [1, 2]
            {"id": "nopath"}
            {"id": {"nested": 1}, "path": "c.png"}
            {"id": "d", "path": "d.png", "image_vector": [0.5]}
            """).entries().toList();
        assertEquals(6, entries.size());
        assertInstanceOf(SourceEntry.Image.class, entries.get(0));
        String[] expected = {
            "line [2]: not valid JSON",
            "line [3]: not a JSON object but [array]",
            "line [4]: [path] must be a non-empty string, got [null]",
            "line [5]: [id] must be a string or an integer",
            "line [6]: field [image_vector] is written by the indexer"};
        for (int i = 0; i < expected.length; i++) {
            SourceEntry.Bad bad = assertInstanceOf(SourceEntry.Bad.class, entries.get(i + 1));
            assertTrue(bad.reason().startsWith("BAD_ENTRY: [" + dir.resolve("images.jsonl") + "] " + expected[i]), bad.reason());
        }
        SourceEntry.Bad nopath = (SourceEntry.Bad) entries.get(3);
        assertEquals("nopath", nopath.id());
        SourceEntry.Bad reserved = (SourceEntry.Bad) entries.get(5);
        assertEquals("d", reserved.id());
        assertEquals("d.png", reserved.path());
    }

    @Test
    void anOverlongIdIsABadLine() throws Exception {
        SourceEntry entry = source("{\"id\": \"" + "x".repeat(513) + "\", \"path\": \"a.png\"}\n").entries().findFirst().orElseThrow();
        assertTrue(assertInstanceOf(SourceEntry.Bad.class, entry).reason().contains("[id] must have 1 to 512 bytes, got [513]"));
    }
}
