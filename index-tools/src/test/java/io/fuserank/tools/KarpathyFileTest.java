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

/** A Karpathy file read and checked once, as images (one entry per image) or as captions (one per caption). */
class KarpathyFileTest {

    @TempDir
    Path dir;

    private KarpathyFile read(String json) throws Exception {
        Path file = dir.resolve("ann.json");
        Files.writeString(file, json);
        return KarpathyFile.read(file);
    }

    private List<SourceEntry> images(String json) throws Exception {
        return read(json).images(dir.resolve("root")).entries().toList();
    }

    @Test
    void testFilesGiveOneDocumentPerImageWithItsCaptions() throws Exception {
        List<SourceEntry> entries = images("""
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
        List<SourceEntry> entries = images("""
            [{"image": "a.png", "caption": "first"}, {"image": "b.png", "caption": "other"},
             {"image": "a.png", "caption": "second"}]""");
        assertEquals(2, entries.size());
        assertEquals(List.of("first", "second"), ((SourceEntry.Image) entries.get(0)).fields().get("captions"));
    }

    @Test
    void badEntriesAreReportedWithTheirPositionAndLine() throws Exception {
        List<SourceEntry> entries = images("""
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

    @Test
    void eachCaptionIsAnEntryWithItsImagePathAndPosition() throws Exception {
        EntrySource source = read("""
            [{"image": "./images/test/000000.png", "caption": ["a red circle", "one red circle"]},
             {"image": "images/test/000001.png", "caption": ["a blue square"]}]""").captions();
        List<SourceEntry> entries = source.entries().toList();
        assertEquals(List.of(
            new SourceEntry.Caption(DocumentIds.forCaption("images/test/000000.png", 0), "images/test/000000.png", 0, "a red circle"),
            new SourceEntry.Caption(DocumentIds.forCaption("images/test/000000.png", 1), "images/test/000000.png", 1, "one red circle"),
            new SourceEntry.Caption(DocumentIds.forCaption("images/test/000001.png", 0), "images/test/000001.png", 0, "a blue square")),
            entries);
        assertEquals(3, source.size());
        assertTrue(source.describe().endsWith("ann.json] (3 captions of 2 images)"), source.describe());
    }

    @Test
    void trainingFilesNumberTheCaptionsOfAnImageAcrossItsEntries() throws Exception {
        List<SourceEntry> entries = read("""
            [{"image": "a.png", "caption": "first"}, {"image": "b.png", "caption": "other"},
             {"image": "a.png", "caption": "second"}]""").captions().entries().toList();
        assertEquals(List.of("a.png#0 first", "a.png#1 second", "b.png#0 other"), entries.stream()
            .map(e -> (SourceEntry.Caption) e).map(c -> c.path() + "#" + c.index() + " " + c.text()).toList());
    }

    @Test
    void aBadEntryIsACaptionDeadLetterWithoutAnId() throws Exception {
        List<SourceEntry> entries = read("""
            [{"image": "a.png", "caption": ["ok"]},
             {"image": "c.png", "caption": [1, 2]}]""").captions().entries().toList();
        assertEquals(2, entries.size());
        SourceEntry.Bad bad = assertInstanceOf(SourceEntry.Bad.class, entries.get(0));
        assertNull(bad.id());
        assertEquals("c.png", bad.path());
        assertTrue(bad.reason().startsWith("BAD_ENTRY: [") && bad.reason().contains("entry [1] at line [2]: [caption] must be a string"),
            bad.reason());
        assertInstanceOf(SourceEntry.Caption.class, entries.get(1));
    }
}
