package io.fuserank.plugin.ingest;

import io.fuserank.encoder.FusionDeclaration.Modality;
import io.fuserank.plugin.action.EncodeRequest;

import java.util.Base64;

/**
 * What a {@code fuserank} processor encodes: an image document (a base64 image file in
 * {@code image_field}) or a caption document (a text in {@code text_field}). The kind fixes the
 * default target fields, so the documented mappings and the search side find
 * {@code image_vector}/{@code image_features} and {@code text_vector}/{@code text_features}
 * whatever the source field is called.
 */
enum DocumentKind {

    IMAGE(Modality.IMAGE, "image_field", "image_vector", "image_features") {
        /**
         * JSON carries the file as standard base64 (RFC 4648, no line breaks: what a
         * {@code binary} field takes); CBOR and SMILE bodies carry raw bytes, taken as they are.
         */
        @Override
        EncodeRequest.Input read(String field, Object value) {
            if (value instanceof byte[] bytes) {
                return EncodeRequest.Input.image(bytes);
            }
            if (value instanceof String base64) {
                try {
                    return EncodeRequest.Input.image(Base64.getDecoder().decode(base64));
                } catch (IllegalArgumentException e) {
                    // no cause: on_failure's message is the root cause's, and it must name the field
                    throw new IllegalArgumentException("field [" + field + "] is not valid base64: " + e.getMessage());
                }
            }
            throw new IllegalArgumentException("field [" + field + "] must be a base64 string of an image file, got ["
                + value.getClass().getSimpleName() + "]");
        }
    },

    TEXT(Modality.TEXT, "text_field", "text_vector", "text_features") {
        @Override
        EncodeRequest.Input read(String field, Object value) {
            if (value instanceof String text) {
                return EncodeRequest.Input.text(text);
            }
            throw new IllegalArgumentException("field [" + field + "] must be a string, got [" + value.getClass().getSimpleName() + "]");
        }
    };

    private final Modality modality;
    private final String option;
    private final String defaultVectorField;
    private final String defaultFeaturesField;

    DocumentKind(Modality modality, String option, String defaultVectorField, String defaultFeaturesField) {
        this.modality = modality;
        this.option = option;
        this.defaultVectorField = defaultVectorField;
        this.defaultFeaturesField = defaultFeaturesField;
    }

    Modality modality() {
        return modality;
    }

    /** The processor option that names the source field. */
    String option() {
        return option;
    }

    String defaultVectorField() {
        return defaultVectorField;
    }

    String defaultFeaturesField() {
        return defaultFeaturesField;
    }

    /** The encoder input for a non-null field value, or an exception naming the field and what is wrong. */
    abstract EncodeRequest.Input read(String field, Object value);
}
