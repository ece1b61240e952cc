package io.fuserank.tools;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DeadLetterFileTest {

    @TempDir
    Path dir;

    @Test
    void eachFailureIsOneJsonLineWithIdPathAndReason() throws Exception {
        Path file = dir.resolve("images-dead-letter.jsonl");
        try (DeadLetterFile deadLetters = new DeadLetterFile(file)) {
            deadLetters.write("abc", "images/a.png", "CORRUPT: cannot decode [png] image of [120] bytes");
            deadLetters.write(null, null, "BAD_ENTRY: [x.jsonl] line [3]: not valid JSON");
            assertEquals(2, deadLetters.lines());
            // Flushed per line: readable before close, as after a kill.
            assertEquals(2, Files.readAllLines(file).size());
        }
        List<String> lines = Files.readAllLines(file);
        assertEquals("{\"id\":\"abc\",\"path\":\"images/a.png\",\"reason\":\"CORRUPT: cannot decode [png] image of [120] bytes\"}",
            lines.get(0));
        JsonNode second = new ObjectMapper().readTree(lines.get(1));
        assertTrue(second.get("id").isNull());
        assertTrue(second.get("path").isNull());
        assertEquals("BAD_ENTRY: [x.jsonl] line [3]: not valid JSON", second.get("reason").asText());
    }

    @Test
    void aRunReplacesThePreviousFileAndACleanRunLeavesNone() throws Exception {
        Path file = dir.resolve("old.jsonl");
        Files.writeString(file, "{\"id\":\"stale\"}\n");
        try (DeadLetterFile deadLetters = new DeadLetterFile(file)) {
            assertEquals(0, deadLetters.lines());
        }
        assertFalse(Files.exists(file));
    }
}
