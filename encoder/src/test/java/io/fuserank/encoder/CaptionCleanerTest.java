package io.fuserank.encoder;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Cases beyond the Python fixture: Unicode whitespace runs, leading and trailing separators. */
class CaptionCleanerTest {

    private final CaptionCleaner cleaner = new CaptionCleaner(30);

    @Test
    void unicodeWhitespaceRunsCollapseLikePython() {
        // Python's \\s matches NO-BREAK SPACE, IDEOGRAPHIC SPACE and the U+001C..U+001F separators.
        assertEquals("a red circle", cleaner.clean("a\u00a0\u00a0red\u3000 circle"));
        assertEquals("a red", cleaner.clean("a\u001c\u001dred"));
    }

    @Test
    void stripsOnlySpacesAtTheEndsAndTrailingNewlines() {
        assertEquals("a red circle", cleaner.clean("  A Red Circle.\n"));
        assertEquals("\ta", cleaner.clean("\ta "));
    }

    @Test
    void maxWordsMustBePositive() {
        assertEquals("maxWords must be positive, got [0]",
            assertThrows(IllegalArgumentException.class, () -> new CaptionCleaner(0)).getMessage());
    }
}
