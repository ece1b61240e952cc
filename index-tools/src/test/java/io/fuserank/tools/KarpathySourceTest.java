package io.fuserank.tools;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class KarpathySourceTest {

    @TempDir
    Path dir;

    private List<SourceEntry> read(String json) throws Exception {
        Path file = dir.resolve("ann.json");
        Files.writeString(file, json);
        return KarpathySource.read(file, dir.resolve("root")).entries().toList();
    }

    @Test
    void testFilesGiveOneDocumentPerImageWithItsCaptions() throws Exception {
        List<SourceEntry> entries = read("""
            [{"image": "images/test/000000.png", "caption": ["a red circle", "one red circle"]},
             {"image": "./images/test/000001.png", "caption": ["a blue square"]}]""");
        assertEquals(2, entries.size());
        SourceEntry.Image first = assertInstanceOf(SourceEntry.Image.class, entries.get(0));
        assertEquals("images/test/000000.png", first.path());
        assertEquals(DocumentIds.forPath("images/test/000000.png"), first.id());
        assertEquals(dir.resolve("root/images/test/000000.png"), first.file());
        assertEquals(Map.of("captions", List.of("a red circle", "one red circle")), first.fields());
        assertEquals("images/test/000001.png", ((SourceEntry.Image) entries.get(1)).path());
    }

    @Test
    void trainingFilesWithOneCaptionPerEntryAreMergedByImage() throws Exception {
        List<SourceEntry> entries = read("""
            [{"image": "a.png", "caption": "first"}, {"image": "b.png", "caption": "other"},
             {"image": "a.png", "caption": "second"}]""");
        assertEquals(2, entries.size());
        assertEquals(List.of("first", "second"), ((SourceEntry.Image) entries.get(0)).fields().get("captions"));
    }

    @Test
    void badEntriesAreReportedWithTheirPositionAndLine() throws Exception {
        List<SourceEntry> entries = read("""
            [{"image": "a.png", "caption": ["ok"]},
             "just a string",
             {"caption": ["no image"]},
             {"image": "c.png", "caption": [1, 2]}]""");
        assertEquals(4, entries.size());
        List<SourceEntry.Bad> bad = entries.stream().filter(SourceEntry.Bad.class::isInstance).map(SourceEntry.Bad.class::cast).toList();
        assertEquals(3, bad.size());
        assertTrue(bad.get(0).reason().matches("BAD_ENTRY: \\[.*ann.json] entry \\[1] at line \\[2]: not an object but \\[string]"),
            bad.get(0).reason());
        assertTrue(bad.get(1).reason().contains("entry [2] at line [3]: [image] must be a non-empty string"), bad.get(1).reason());
        assertNull(bad.get(1).id());
        assertTrue(bad.get(2).reason().contains("entry [3] at line [4]: [caption] must be a string or an array of strings, it holds [1]"),
            bad.get(2).reason());
        assertEquals("c.png", bad.get(2).path());
        assertEquals(DocumentIds.forPath("c.png"), bad.get(2).id());
    }

    @Test
    void aFileThatIsNotAnArrayIsAnErrorNamingIt() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> read("{\"images\": []}"));
        assertTrue(e.getMessage().contains("ann.json] is not a JSON array"), e.getMessage());
    }

    @Test
    void invalidJsonIsAnErrorNamingTheLine() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> read("""
            [{"image": "a.png"},
             {"image": "b.png",,}]"""));
        assertTrue(e.getMessage().contains("is not valid JSON at line [2]"), e.getMessage());
    }
}
