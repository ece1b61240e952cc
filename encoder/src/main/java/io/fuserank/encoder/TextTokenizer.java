package io.fuserank.encoder;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The text side of the bundle contract: the manifest's {@link TextRule} (ALBEF caption cleaning,
 * {@link CaptionCleaner}, or none), then the bundle's {@code tokenizer.json} through DJL's Hugging
 * Face tokenizer with
 * {@code [CLS] ... [SEP]} and truncation to the manifest's {@code max_tokens}. Training tokenizes
 * with the same file and the same cleaning, and {@code reference/tokenizer_fixture.json} pins the
 * ids both sides must produce.
 *
 * <p>Rejects texts that are empty (or blank) after cleaning (nothing to search for) and texts longer than
 * {@code maxChars} characters before any native call, so that a megabyte of query text costs
 * nothing. Thread-safe: DJL's tokenizer handle is shareable.
 */
public final class TextTokenizer implements AutoCloseable {

    /** Longest accepted text; cleaning keeps only the first 30 words anyway. */
    public static final int DEFAULT_MAX_CHARS = 4096;

    /** One batch, padded to its longest row: ids and attention mask, row-major [rows, length]. */
    public record Batch(long[] ids, long[] mask, int rows, int length) {
        public int tokens(int row) {
            int n = 0;
            for (int i = 0; i < length; i++) {
                n += (int) mask[row * length + i];
            }
            return n;
        }
    }

    private final HuggingFaceTokenizer tokenizer;
    private final CaptionCleaner cleaner; // null under TextRule.TOKENIZER_JSON
    private final int maxTokens;
    private final int maxChars;
    private final long padId;

    /** A tokenizer that cleans captions as ALBEF's {@code pre_caption} does. */
    public TextTokenizer(Path tokenizerJson, int maxTokens, int maxWords, long padId, int maxChars) {
        this(tokenizerJson, TextRule.ALBEF_PRE_CAPTION, maxTokens, maxWords, padId, maxChars);
    }

    /** @param maxWords the words {@link TextRule#ALBEF_PRE_CAPTION} keeps; unused by other rules */
    public TextTokenizer(Path tokenizerJson, TextRule rule, int maxTokens, int maxWords, long padId, int maxChars) {
        if (maxTokens < 2) {
            throw new IllegalArgumentException("maxTokens must be at least 2 ([CLS] and [SEP]), got [" + maxTokens + "]");
        }
        if (maxChars < 1) {
            throw new IllegalArgumentException("maxChars must be positive, got [" + maxChars + "]");
        }
        this.cleaner = rule == TextRule.ALBEF_PRE_CAPTION ? new CaptionCleaner(maxWords) : null;
        this.maxTokens = maxTokens;
        this.maxChars = maxChars;
        this.padId = padId;
        Map<String, String> options = Map.of(
            "truncation", "true", "maxLength", Integer.toString(maxTokens), "padding", "false", "addSpecialTokens", "true");
        this.tokenizer = NativeRuntimeCheck.withContextClassLoader(() -> {
            try {
                return HuggingFaceTokenizer.newInstance(tokenizerJson, options);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot load tokenizer [" + tokenizerJson + "]", e);
            }
        });
    }

    /** The bundle's tokenizer with its manifest's text rule, max tokens, max words and pad id. */
    public static TextTokenizer forBundle(ModelBundle bundle) {
        var text = bundle.manifest().path("text");
        return new TextTokenizer(bundle.tokenizer(), bundle.textRule(), bundle.maxTextTokens(), text.path("max_words").asInt(30),
            text.path("pad_id").asLong(0), DEFAULT_MAX_CHARS);
    }

    public int maxTokens() {
        return maxTokens;
    }

    /** The text as the tokenizer gets it: cleaned as training saw it, or unchanged under {@link TextRule#TOKENIZER_JSON}. */
    public String clean(String text) {
        checkLength(text);
        return cleaner == null ? text : cleaner.clean(text);
    }

    /** Throws the IllegalArgumentException {@link #encode} would throw for this text, if any. */
    public void validate(String text) {
        cleanNonEmpty(text);
    }

    /** Ids of one text, {@code [CLS] ... [SEP]}, at most {@link #maxTokens()} long. */
    public long[] encode(String text) {
        return tokenizer.encode(cleanNonEmpty(text)).getIds();
    }

    /** Ids and masks of several texts, padded with the pad id to the longest. */
    public Batch encodeBatch(List<String> texts) {
        if (texts.isEmpty()) {
            throw new IllegalArgumentException("no texts to encode");
        }
        String[] cleaned = new String[texts.size()];
        for (int i = 0; i < cleaned.length; i++) {
            cleaned[i] = cleanNonEmpty(texts.get(i));
        }
        Encoding[] encodings = tokenizer.batchEncode(cleaned);
        int length = 0;
        for (Encoding e : encodings) {
            length = Math.max(length, e.getIds().length);
        }
        long[] ids = new long[encodings.length * length];
        long[] mask = new long[ids.length];
        java.util.Arrays.fill(ids, padId);
        for (int row = 0; row < encodings.length; row++) {
            long[] rowIds = encodings[row].getIds();
            System.arraycopy(rowIds, 0, ids, row * length, rowIds.length);
            java.util.Arrays.fill(mask, row * length, row * length + rowIds.length, 1L);
        }
        return new Batch(ids, mask, encodings.length, length);
    }

    private String cleanNonEmpty(String text) {
        String cleaned = clean(text);
        if (cleaned.isBlank()) {
            throw new IllegalArgumentException(text.isEmpty()
                ? "text is empty"
                : "text [" + abbreviate(text) + "] is empty after " + (cleaner == null ? "trimming" : "caption cleaning"));
        }
        return cleaned;
    }

    private String checkLength(String text) {
        if (text == null) {
            throw new IllegalArgumentException("text is null");
        }
        if (text.length() > maxChars) {
            throw new IllegalArgumentException(String.format(Locale.ROOT,
                "text has [%d] characters, more than the limit [%d]", text.length(), maxChars));
        }
        return text;
    }

    private static String abbreviate(String text) {
        return text.length() <= 40 ? text : text.substring(0, 40) + "...";
    }

    @Override
    public void close() {
        tokenizer.close();
    }
}
