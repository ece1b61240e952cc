package io.fuserank.tools;

import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class QueryFileTest {

    @Test
    void plainLinesAreTextQueriesAndJsonLinesTextOrImage() {
        List<QueryFile.Line> lines = QueryFile.parse(List.of(
            "a large blue cross",
            "",
            "  {\"text\": \"a small red circle\"}  ",
            "{\"image\": \"images/test/000001.png\"}",
            "   ",
            "a cat {not json}"));
        assertEquals(4, lines.size());
        assertEquals(new QueryFile.Line(0, 1, "a large blue cross", null), lines.get(0));
        assertEquals(new QueryFile.Line(1, 3, "a small red circle", null), lines.get(1));
        assertEquals(new QueryFile.Line(2, 4, null, Path.of("images/test/000001.png")), lines.get(2));
        assertEquals(new QueryFile.Line(3, 6, "a cat {not json}", null), lines.get(3));
        assertTrue(lines.get(0).isText());
        assertNull(lines.get(2).text());
    }

    private static void assertBad(String line, String expected) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> QueryFile.parse(List.of("a cat", line)));
        assertTrue(e.getMessage().startsWith(expected), e.getMessage());
    }

    @Test
    void aLineThatIsNoQueryNamesItsNumberAndText() {
        String shape = "] is not a query: a JSON line is {\"text\": TEXT} or {\"image\": FILE}, one non-empty string";
        assertBad("{\"text\": ", "line 2 [{\"text\":] is not JSON: ");
        assertBad("{\"txt\": \"a dog\"}", "line 2 [{\"txt\": \"a dog\"}" + shape);
        assertBad("{\"text\": \"a dog\", \"image\": \"d.png\"}", "line 2 [{\"text\": \"a dog\", \"image\": \"d.png\"}" + shape);
        assertBad("{\"text\": \" \"}", "line 2 [{\"text\": \" \"}" + shape);
        assertBad("{\"image\": 3}", "line 2 [{\"image\": 3}" + shape);
        assertBad("{}", "line 2 [{}" + shape);
    }

    @Test
    void aFileWithoutQueriesIsRefused() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> QueryFile.parse(List.of("", "  ")));
        assertEquals("holds no query", e.getMessage());
    }
}
