package io.fuserank.tools;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * The two kinds of fuserank index and their field names, as in {@code example-queries/mappings/}:
 * image documents ({@code image}, {@code image_vector}, {@code image_features}) and caption
 * documents ({@code caption}, {@code text_vector}, {@code text_features}).
 */
enum IndexKind {
    IMAGE("image", "image", "image_field", "binary", "image_vector", "image_features"),
    CAPTION("caption", "caption", "text_field", "text", "text_vector", "text_features");

    private final String label;
    private final String sourceField;
    private final String processorOption;
    private final String sourceType;
    private final String vectorField;
    private final String featuresField;

    IndexKind(String label, String sourceField, String processorOption, String sourceType, String vectorField, String featuresField) {
        this.label = label;
        this.sourceField = sourceField;
        this.processorOption = processorOption;
        this.sourceType = sourceType;
        this.vectorField = vectorField;
        this.featuresField = featuresField;
    }

    String label() {
        return label;
    }

    /** The document's input field: the base64 image or the caption text. */
    String sourceField() {
        return sourceField;
    }

    /** The {@code fuserank} processor option that names {@link #sourceField()}. */
    String processorOption() {
        return processorOption;
    }

    /** The mapping type of {@link #sourceField()}: {@code binary} (not indexed) or {@code text}. */
    String sourceType() {
        return sourceType;
    }

    String vectorField() {
        return vectorField;
    }

    String featuresField() {
        return featuresField;
    }

    static String labels() {
        return Arrays.stream(values()).map(IndexKind::label).collect(Collectors.joining(", ", "[", "]"));
    }

    /** The kind for a label; an IllegalArgumentException naming the value and the valid ones otherwise. */
    static IndexKind fromLabel(String label) {
        for (IndexKind kind : values()) {
            if (kind.label.equals(label)) {
                return kind;
            }
        }
        throw new IllegalArgumentException(String.format(Locale.ROOT, "--kind [%s] is not one of %s", label, labels()));
    }
}
