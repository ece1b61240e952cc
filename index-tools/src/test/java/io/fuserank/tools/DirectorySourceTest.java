package io.fuserank.tools;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

class DirectorySourceTest {

    @TempDir
    Path root;

    @Test
    void everyImageFileAtAnyDepthIsAnEntryWithAPathIdAndNoCaptions() throws Exception {
        Files.createDirectories(root.resolve("images/test/deeper"));
        for (String name : List.of("images/a.png", "images/test/b.JPG", "images/test/deeper/c.webp", "images/notes.txt",
            "images/test/ann.json", "images/test/noextension")) {
            Files.writeString(root.resolve(name), "x");
        }
        DirectorySource source = new DirectorySource(root);
        assertEquals(3, source.size());
        List<SourceEntry.Image> entries = source.entries().map(SourceEntry.Image.class::cast)
            .sorted((x, y) -> x.path().compareTo(y.path())).toList();
        assertEquals(List.of("images/a.png", "images/test/b.JPG", "images/test/deeper/c.webp"),
            entries.stream().map(SourceEntry.Image::path).toList());
        SourceEntry.Image a = entries.get(0);
        assertEquals(root.resolve("images/a.png"), a.file());
        assertEquals(Map.of(), a.fields());
        // The same file named by a Karpathy annotation (relative to the same root) gets the same id.
        assertEquals(DocumentIds.forPath("./images/a.png"), a.id());
    }
}
