package io.fuserank.encoder;

import java.util.Locale;
import java.util.regex.Pattern;

/**
 * ALBEF's caption cleaning ({@code pre_caption} in ALBEF's {@code dataset/utils.py}, arXiv
 * 2107.07651), as {@code encoder/training/data.py} implements it for training: queries must be
 * cleaned exactly as the captions the text encoder learned on.
 *
 * <p>Lowercase; drop {@code , . ' ! ? " ( ) * # : ; ~}; {@code -} and {@code /} become spaces;
 * {@code <person>} becomes {@code person}; runs of two or more whitespace characters become one
 * space; strip; keep the first {@code maxWords} space-separated words. A single tab or newline
 * between words stays (the tokenizer splits on it anyway), as in ALBEF.
 */
public final class CaptionCleaner {

    private static final Pattern PUNCTUATION = Pattern.compile("[,.'!?\"()*#:;~]");
    /**
     * Python's {@code \s} on str: Unicode White_Space plus the separators U+001C..U+001F, which
     * {@code str.isspace} counts and Java's Unicode class does not.
     */
    private static final Pattern WHITESPACE_RUN =
        Pattern.compile("[\\s\\x1C-\\x1F]{2,}", Pattern.UNICODE_CHARACTER_CLASS);

    private final int maxWords;

    public CaptionCleaner(int maxWords) {
        if (maxWords < 1) {
            throw new IllegalArgumentException("maxWords must be positive, got [" + maxWords + "]");
        }
        this.maxWords = maxWords;
    }

    public int maxWords() {
        return maxWords;
    }

    public String clean(String caption) {
        String text = PUNCTUATION.matcher(caption.toLowerCase(Locale.ROOT)).replaceAll("")
            .replace('-', ' ')
            .replace('/', ' ')
            .replace("<person>", "person");
        text = WHITESPACE_RUN.matcher(text).replaceAll(" ");
        text = stripTrailingNewlines(text);
        text = strip(text, ' ');
        String[] words = text.split(" ", -1);
        if (words.length > maxWords) {
            text = String.join(" ", java.util.Arrays.copyOf(words, maxWords));
        }
        return text;
    }

    private static String stripTrailingNewlines(String text) {
        int end = text.length();
        while (end > 0 && text.charAt(end - 1) == '\n') {
            end--;
        }
        return text.substring(0, end);
    }

    private static String strip(String text, char c) {
        int start = 0;
        int end = text.length();
        while (start < end && text.charAt(start) == c) {
            start++;
        }
        while (end > start && text.charAt(end - 1) == c) {
            end--;
        }
        return text.substring(start, end);
    }
}
