package io.fuserank.plugin.query;

import io.fuserank.plugin.action.EncodeRequest;
import org.elasticsearch.common.io.stream.StreamInput;
import org.elasticsearch.common.io.stream.StreamOutput;
import org.elasticsearch.xcontent.ConstructingObjectParser;
import org.elasticsearch.xcontent.ObjectParser;
import org.elasticsearch.xcontent.ParseField;
import org.elasticsearch.xcontent.XContentBuilder;
import org.elasticsearch.xcontent.XContentParser;

import java.io.IOException;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.Objects;

import static org.elasticsearch.xcontent.ConstructingObjectParser.constructorArg;

/**
 * {@code knn.query_vector_builder.fuserank_image}: the query image's ITC embedding from the image
 * encoder (ALBEF's ViT + ITC projection, arXiv 2107.07651 §3.1). Image and caption embeddings share
 * one space, so the same vector searches caption vectors (image to text) or image vectors (image to
 * image). The image is a base64 encoded file (PNG, JPEG, GIF, BMP, WebP), decoded and encoded once
 * on the coordinating node.
 * <pre>{@code
 * "knn": {"field": "text_vector", "k": 10, "num_candidates": 100,
 *         "query_vector_builder": {"fuserank_image": {"model_id": "fuserank-small", "image": "iVBORw0KGgo..."}}}
 * }</pre>
 */
public final class ImageQueryVectorBuilder extends ModelQueryVectorBuilder {

    public static final String NAME = "fuserank_image";
    public static final ParseField IMAGE = new ParseField("image");

    private static final ConstructingObjectParser<ImageQueryVectorBuilder, Void> PARSER =
        new ConstructingObjectParser<>(NAME, false, args -> new ImageQueryVectorBuilder((String) args[0], (byte[]) args[1]));

    static {
        PARSER.declareString(constructorArg(), MODEL_ID);
        PARSER.declareField(constructorArg(), p -> decodeBase64(IMAGE.getPreferredName(), p.text()), IMAGE,
            ObjectParser.ValueType.STRING);
    }

    private final byte[] image;

    /** {@code image} is the encoded image file's bytes (not base64). */
    public ImageQueryVectorBuilder(String modelId, byte[] image) {
        super(modelId);
        if (image == null || image.length == 0) {
            throw new IllegalArgumentException("[" + NAME + "] needs a non-empty [image]");
        }
        this.image = image;
    }

    public ImageQueryVectorBuilder(StreamInput in) throws IOException {
        super(in.readString());
        this.image = in.readByteArray();
    }

    public static ImageQueryVectorBuilder fromXContent(XContentParser parser, Void context) {
        return OptionParsing.parse(NAME, () -> PARSER.apply(parser, null), List.of(MODEL_ID, IMAGE));
    }

    /** Decodes a base64 option value, naming the option and the reason when it is not base64. */
    public static byte[] decodeBase64(String option, String value) {
        try {
            return Base64.getDecoder().decode(value);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(String.format(Locale.ROOT,
                "[%s] must be a base64 encoded image file: %s", option, e.getMessage()), e);
        }
    }

    public byte[] image() {
        return image;
    }

    @Override
    EncodeRequest.Input input() {
        return EncodeRequest.Input.image(image);
    }

    @Override
    ParseField inputField() {
        return IMAGE;
    }

    @Override
    public String getWriteableName() {
        return NAME;
    }

    @Override
    public void writeTo(StreamOutput out) throws IOException {
        out.writeString(modelId);
        out.writeByteArray(image);
    }

    @Override
    public XContentBuilder toXContent(XContentBuilder builder, Params params) throws IOException {
        return builder.startObject()
            .field(MODEL_ID.getPreferredName(), modelId)
            .field(IMAGE.getPreferredName(), Base64.getEncoder().encodeToString(image))
            .endObject();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ImageQueryVectorBuilder that && modelId.equals(that.modelId) && Arrays.equals(image, that.image);
    }

    @Override
    public int hashCode() {
        return Objects.hash(modelId, Arrays.hashCode(image));
    }

    @Override
    public String toString() {
        return NAME + "[model_id=" + modelId + ", image=" + image.length + " bytes]";
    }
}
