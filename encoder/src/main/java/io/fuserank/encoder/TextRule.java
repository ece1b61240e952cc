package io.fuserank.encoder;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * How a text is prepared before the bundle's {@code tokenizer.json} runs, as the manifest's
 * {@code text.preprocessing} names it: what the source model saw at training and evaluation time.
 */
public enum TextRule {
    /** ALBEF's {@code pre_caption} ({@link CaptionCleaner}): our own models and ALBEF's checkpoints. */
    ALBEF_PRE_CAPTION("albef_pre_caption"),
    /**
     * The tokenizer alone (its own normaliser: lower-casing, accent stripping, ...), with no caption
     * cleaning: Hugging Face processors, e.g. an imported BLIP bundle's {@code BertTokenizerFast}.
     */
    TOKENIZER_JSON("tokenizer_json");

    private final String manifestName;

    TextRule(String manifestName) {
        this.manifestName = manifestName;
    }

    public String manifestName() {
        return manifestName;
    }

    public static List<String> manifestNames() {
        return Arrays.stream(values()).map(TextRule::manifestName).toList();
    }

    /**
     * The rule {@code text.preprocessing} names; {@link #ALBEF_PRE_CAPTION} where the field is absent
     * (bundles exported before it existed, all of them our own models).
     *
     * @throws IllegalArgumentException naming the field and the value when it names no rule
     */
    public static TextRule fromManifest(JsonNode text) {
        JsonNode value = text.path("preprocessing");
        if (value.isMissingNode()) {
            return ALBEF_PRE_CAPTION;
        }
        for (TextRule rule : values()) {
            if (rule.manifestName.equals(value.asText()) && value.isTextual()) {
                return rule;
            }
        }
        throw new IllegalArgumentException(String.format(Locale.ROOT,
            "[manifest.json] field [text.preprocessing] is [%s]; valid: %s", value.isTextual() ? value.textValue() : value, manifestNames()));
    }
}
