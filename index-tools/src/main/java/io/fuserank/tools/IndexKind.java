package io.fuserank.tools;

import io.fuserank.encoder.DocumentStorage;
import io.fuserank.encoder.Encoding;
import io.fuserank.encoder.FeatureCodec;
import io.fuserank.encoder.FusionDeclaration.Modality;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * The two kinds of fuserank index and their field names, as in {@code example-queries/mappings/}:
 * image documents ({@code image}, {@code image_vector}, {@code image_features}) and caption
 * documents ({@code caption}, {@code text_vector}, {@code text_features}).
 */
enum IndexKind {
    IMAGE("image", Modality.IMAGE, "image", "image_field", "binary", "image_vector", "image_features"),
    CAPTION("caption", Modality.TEXT, "caption", "text_field", "text", "text_vector", "text_features");

    private final String label;
    private final Modality modality;
    private final String sourceField;
    private final String processorOption;
    private final String sourceType;
    private final String vectorField;
    private final String featuresField;

    IndexKind(String label, Modality modality, String sourceField, String processorOption, String sourceType, String vectorField, String featuresField) {
        this.label = label;
        this.modality = modality;
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

    /**
     * The fields the {@code fuserank} ingest processor writes for this kind, computed here: the ITC
     * embedding in {@link #vectorField()} and, in {@link #featuresField()}, what the model's
     * documents of this kind store for its fusion graph (a {@code byte[]}, which becomes the same
     * base64 in the document; absent where they store nothing).
     *
     * @param codec the token-feature codec, or null for the manifest's
     */
    Map<String, Object> encodedFields(Encoding encoding, DocumentStorage storage, FeatureCodec codec) {
        Map<String, Object> fields = new LinkedHashMap<>();
        fields.put(vectorField, encoding.embedding());
        byte[] blob = storage.blob(modality, encoding, codec);
        if (blob != null) {
            fields.put(featuresField, blob);
        }
        return fields;
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
