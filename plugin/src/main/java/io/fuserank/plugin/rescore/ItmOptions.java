package io.fuserank.plugin.rescore;

import io.fuserank.plugin.model.ModelRegistry;
import io.fuserank.plugin.query.ImageQueryVectorBuilder;
import io.fuserank.plugin.query.OptionParsing;
import io.fuserank.reranker.RerankDefaults;
import io.fuserank.reranker.ScoreFormula;
import io.fuserank.reranker.ScoreMode;
import org.elasticsearch.common.io.stream.StreamInput;
import org.elasticsearch.common.io.stream.StreamOutput;
import org.elasticsearch.common.io.stream.Writeable;
import org.elasticsearch.xcontent.ConstructingObjectParser;
import org.elasticsearch.xcontent.ObjectParser;
import org.elasticsearch.xcontent.ParseField;
import org.elasticsearch.xcontent.ToXContentFragment;
import org.elasticsearch.xcontent.XContentBuilder;
import org.elasticsearch.xcontent.XContentParser;

import java.io.IOException;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.Objects;

import static org.elasticsearch.xcontent.ConstructingObjectParser.optionalConstructorArg;

/**
 * The options of the {@code fuserank_itm} rescorer, as the user wrote them, checked and with their
 * defaults filled in (except {@code score_mode}'s and {@code itc_weight}'s, which are the model's: see below).
 * <ul>
 *   <li>{@code model_id}: the model bundle;</li>
 *   <li>{@code text} or {@code image} (base64), exactly one: the query. A text query rescores image
 *       documents, an image query rescores caption documents;</li>
 *   <li>{@code features_field}: the {@code binary} doc-values field holding each document's token
 *       features blob (default {@code image_features} for a text query, {@code text_features} for an
 *       image query);</li>
 *   <li>{@code vector_field}: the {@code dense_vector} field holding each document's ITC embedding
 *       (default {@code image_vector} / {@code text_vector}); the ITC part of the score is the dot
 *       product of the query embedding with this stored vector, so it does not depend on what the
 *       first stage was (kNN, BM25, a filter);</li>
 *   <li>{@code score_mode}: {@code itm} (the ITM match logit alone, as ALBEF ranks its top-k,
 *       arXiv 2107.07651), {@code itm_plus_itc} (ITM logit + {@code itc_weight} * ITC dot product, as
 *       BLIP, arXiv 2201.12086) or {@code blend}. Left out, it is the one a weight option implies
 *       ({@code itc_weight}: {@code itm_plus_itc}; {@code query_weight} or
 *       {@code rescore_query_weight}: {@code blend}), else the model's: its manifest's
 *       {@code rerank.score_mode} ({@code itm} for an imported ALBEF, {@code itm_plus_itc} for BLIP
 *       and for our own models, {@link RerankDefaults}), carried to the shards like the weight;</li>
 *   <li>{@code itc_weight} (at least 0, {@code itm_plus_itc} only): the weight of the ITC dot product.
 *       Left out, it is the model's: the weight its manifest recommends ({@code rerank.itc_weight},
 *       chosen on validation data by {@code encoder/training/blend_weight.py}), or 1, BLIP's, where
 *       the manifest names none. It stays null here, and the coordinating node's encoding of the
 *       query carries the model's weight to the shards. The dot product is the exact one of the
 *       stored vector, not a quantized kNN score;</li>
 *   <li>{@code query_weight}, {@code rescore_query_weight} (default 1, at least 0, {@code blend}
 *       only): {@code blend} is Elasticsearch's own query rescorer total, {@code query_weight *
 *       first-stage score + rescore_query_weight * ITM logit}.</li>
 * </ul>
 * The score these options ask for is {@link #formula}'s, defined once in reranker/ ({@link ScoreFormula}).
 * The record's canonical constructor takes the raw parsed values and checks nothing, so that the
 * parser never wraps a usage error in its own "failed to build" message; {@link #validated()} checks
 * and fills in defaults.
 */
public record ItmOptions(String modelId, String text, byte[] image, String featuresField, String vectorField, String scoreMode,
                         Float queryWeight, Float rescoreQueryWeight, Float itcWeight) implements Writeable, ToXContentFragment {

    public static final ParseField MODEL_ID = new ParseField("model_id");
    public static final ParseField TEXT = new ParseField("text");
    public static final ParseField IMAGE = new ParseField("image");
    public static final ParseField FEATURES_FIELD = new ParseField("features_field");
    public static final ParseField VECTOR_FIELD = new ParseField("vector_field");
    public static final ParseField SCORE_MODE = new ParseField("score_mode");
    public static final ParseField QUERY_WEIGHT = new ParseField("query_weight");
    public static final ParseField RESCORE_QUERY_WEIGHT = new ParseField("rescore_query_weight");
    public static final ParseField ITC_WEIGHT = new ParseField("itc_weight");
    static final List<ParseField> FIELDS =
        List.of(MODEL_ID, TEXT, IMAGE, FEATURES_FIELD, VECTOR_FIELD, SCORE_MODE, QUERY_WEIGHT, RESCORE_QUERY_WEIGHT, ITC_WEIGHT);

    private static final ConstructingObjectParser<ItmOptions, Void> PARSER = new ConstructingObjectParser<>(ItmRescorerBuilder.NAME,
        false, args -> new ItmOptions((String) args[0], (String) args[1], (byte[]) args[2], (String) args[3], (String) args[4],
            (String) args[5], (Float) args[6], (Float) args[7], (Float) args[8]));

    static {
        PARSER.declareString(optionalConstructorArg(), MODEL_ID);
        PARSER.declareString(optionalConstructorArg(), TEXT);
        PARSER.declareField(optionalConstructorArg(), p -> ImageQueryVectorBuilder.decodeBase64(IMAGE.getPreferredName(), p.text()),
            IMAGE, ObjectParser.ValueType.STRING);
        PARSER.declareString(optionalConstructorArg(), FEATURES_FIELD);
        PARSER.declareString(optionalConstructorArg(), VECTOR_FIELD);
        PARSER.declareString(optionalConstructorArg(), SCORE_MODE);
        PARSER.declareFloat(optionalConstructorArg(), QUERY_WEIGHT);
        PARSER.declareFloat(optionalConstructorArg(), RESCORE_QUERY_WEIGHT);
        PARSER.declareFloat(optionalConstructorArg(), ITC_WEIGHT);
    }

    /** Parses and validates the rescorer's object. */
    public static ItmOptions fromXContent(XContentParser parser) {
        return OptionParsing.parse(ItmRescorerBuilder.NAME, () -> PARSER.apply(parser, null), FIELDS).validated();
    }

    public static ItmOptions readFrom(StreamInput in) throws IOException {
        return new ItmOptions(in.readString(), in.readOptionalString(), in.readOptionalByteArray(), in.readString(), in.readString(),
            in.readOptionalString(), in.readFloat(), in.readFloat(), in.readOptionalFloat());
    }

    /** These options checked, with every default filled in; the query must be exactly one of text and image. */
    public ItmOptions validated() {
        String name = ItmRescorerBuilder.NAME;
        if (modelId == null) {
            throw new IllegalArgumentException("[" + name + "] needs [" + MODEL_ID.getPreferredName() + "]");
        }
        ModelRegistry.validateId(modelId);
        if ((text == null) == (image == null)) {
            throw new IllegalArgumentException(String.format(Locale.ROOT, "[%s] needs exactly one of [text] and [image], got %s",
                name, text == null ? "neither" : "both"));
        }
        if (text != null && text.isBlank()) {
            throw new IllegalArgumentException("[" + name + "] needs a non-blank [text], got [" + text + "]");
        }
        if (image != null && image.length == 0) {
            throw new IllegalArgumentException("[" + name + "] needs a non-empty [image]");
        }
        boolean blendWeights = queryWeight != null || rescoreQueryWeight != null;
        if (scoreMode == null && blendWeights && itcWeight != null) {
            throw new IllegalArgumentException(String.format(Locale.ROOT,
                "[%s] [query_weight] and [rescore_query_weight] apply to score_mode [blend] only, [itc_weight] to [itm_plus_itc] only; "
                    + "give one of them, or a score_mode", name));
        }
        // null: the model's, known once the coordinating node has encoded the query
        ScoreMode mode = scoreMode != null ? parseScoreMode(scoreMode)
            : blendWeights ? ScoreMode.BLEND : itcWeight != null ? ScoreMode.ITM_PLUS_ITC : null;
        if (mode != null && mode != ScoreMode.BLEND && blendWeights) {
            throw new IllegalArgumentException(String.format(Locale.ROOT,
                "[%s] [query_weight] and [rescore_query_weight] apply to score_mode [blend] only, score_mode is [%s]", name, mode.label()));
        }
        if (mode != null && mode != ScoreMode.ITM_PLUS_ITC && itcWeight != null) {
            throw new IllegalArgumentException(String.format(Locale.ROOT,
                "[%s] [itc_weight] applies to score_mode [itm_plus_itc] only, score_mode is [%s]", name, mode.label()));
        }
        float qw = checkWeight(QUERY_WEIGHT, queryWeight);
        float rqw = checkWeight(RESCORE_QUERY_WEIGHT, rescoreQueryWeight);
        Float iw = itcWeight == null ? null : checkWeight(ITC_WEIGHT, itcWeight);
        boolean textQuery = text != null;
        return new ItmOptions(modelId, text, image,
            featuresField != null ? featuresField : textQuery ? "image_features" : "text_features",
            vectorField != null ? vectorField : textQuery ? "image_vector" : "text_vector",
            mode == null ? null : mode.label(), qw, rqw, iw);
    }

    private static ScoreMode parseScoreMode(String label) {
        try {
            return ScoreMode.fromLabel(label);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("[" + ItmRescorerBuilder.NAME + "] [" + SCORE_MODE.getPreferredName() + "] "
                + e.getMessage(), e);
        }
    }

    private static float checkWeight(ParseField field, Float weight) {
        if (weight == null) {
            return 1f;
        }
        if (Float.isFinite(weight) == false || weight < 0) {
            throw new IllegalArgumentException("[" + ItmRescorerBuilder.NAME + "] [" + field.getPreferredName()
                + "] must be a finite number >= 0, got [" + weight + "]");
        }
        return weight;
    }

    public boolean isTextQuery() {
        return text != null;
    }

    /** The score mode the request names or implies, or null for the model's. */
    public ScoreMode requestedMode() {
        return scoreMode == null ? null : ScoreMode.fromLabel(scoreMode);
    }

    /** The score formula of validated options; what they leave out is the model's ({@code model}). */
    public ScoreFormula formula(RerankDefaults model) {
        return model.formula(requestedMode(), itcWeight, queryWeight, rescoreQueryWeight);
    }

    /** Writes validated options. */
    @Override
    public void writeTo(StreamOutput out) throws IOException {
        out.writeString(modelId);
        out.writeOptionalString(text);
        out.writeOptionalByteArray(image);
        out.writeString(featuresField);
        out.writeString(vectorField);
        out.writeOptionalString(scoreMode);
        out.writeFloat(queryWeight);
        out.writeFloat(rescoreQueryWeight);
        out.writeOptionalFloat(itcWeight);
    }

    /** Writes validated options, each weight only where it applies (and was given), so that the output parses back to equal options. */
    @Override
    public XContentBuilder toXContent(XContentBuilder builder, Params params) throws IOException {
        builder.field(MODEL_ID.getPreferredName(), modelId);
        if (text != null) {
            builder.field(TEXT.getPreferredName(), text);
        } else {
            builder.field(IMAGE.getPreferredName(), Base64.getEncoder().encodeToString(image));
        }
        builder.field(FEATURES_FIELD.getPreferredName(), featuresField);
        builder.field(VECTOR_FIELD.getPreferredName(), vectorField);
        if (scoreMode != null) {
            builder.field(SCORE_MODE.getPreferredName(), scoreMode);
        }
        if (requestedMode() == ScoreMode.BLEND) {
            builder.field(QUERY_WEIGHT.getPreferredName(), queryWeight);
            builder.field(RESCORE_QUERY_WEIGHT.getPreferredName(), rescoreQueryWeight);
        }
        if (itcWeight != null) {
            builder.field(ITC_WEIGHT.getPreferredName(), itcWeight);
        }
        return builder;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ItmOptions that && Objects.equals(modelId, that.modelId) && Objects.equals(text, that.text)
            && Arrays.equals(image, that.image) && Objects.equals(featuresField, that.featuresField)
            && Objects.equals(vectorField, that.vectorField) && Objects.equals(scoreMode, that.scoreMode)
            && Objects.equals(queryWeight, that.queryWeight) && Objects.equals(rescoreQueryWeight, that.rescoreQueryWeight)
            && Objects.equals(itcWeight, that.itcWeight);
    }

    @Override
    public int hashCode() {
        return Objects.hash(modelId, text, Arrays.hashCode(image), featuresField, vectorField, scoreMode, queryWeight, rescoreQueryWeight,
            itcWeight);
    }

    @Override
    public String toString() {
        return "model_id=" + modelId + (text != null ? ", text=" + text : ", image=" + image.length + " bytes") + ", features_field="
            + featuresField + ", vector_field=" + vectorField + ", score_mode=" + scoreMode + ", query_weight=" + queryWeight
            + ", rescore_query_weight=" + rescoreQueryWeight + ", itc_weight=" + itcWeight;
    }
}
