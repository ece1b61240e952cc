package io.fuserank.plugin.query;

import io.fuserank.plugin.action.EncodeRequest;
import org.elasticsearch.common.io.stream.StreamInput;
import org.elasticsearch.common.io.stream.StreamOutput;
import org.elasticsearch.xcontent.ConstructingObjectParser;
import org.elasticsearch.xcontent.ParseField;
import org.elasticsearch.xcontent.XContentBuilder;
import org.elasticsearch.xcontent.XContentParser;

import java.io.IOException;
import java.util.List;
import java.util.Objects;

import static org.elasticsearch.xcontent.ConstructingObjectParser.constructorArg;

/**
 * {@code knn.query_vector_builder.fuserank_text}: the query text's ITC embedding from the text
 * encoder (ALBEF's unimodal text encoder + ITC projection, arXiv 2107.07651 §3.1), for a kNN search
 * over image vectors. The text is encoded once, on the coordinating node, before the search fans out.
 * <pre>{@code
 * "knn": {"field": "image_vector", "k": 10, "num_candidates": 100,
 *         "query_vector_builder": {"fuserank_text": {"model_id": "fuserank-small", "text": "a red circle"}}}
 * }</pre>
 */
public final class TextQueryVectorBuilder extends ModelQueryVectorBuilder {

    public static final String NAME = "fuserank_text";
    public static final ParseField TEXT = new ParseField("text");

    private static final ConstructingObjectParser<TextQueryVectorBuilder, Void> PARSER =
        new ConstructingObjectParser<>(NAME, false, args -> new TextQueryVectorBuilder((String) args[0], (String) args[1]));

    static {
        PARSER.declareString(constructorArg(), MODEL_ID);
        PARSER.declareString(constructorArg(), TEXT);
    }

    private final String text;

    public TextQueryVectorBuilder(String modelId, String text) {
        super(modelId);
        if (text == null || text.isBlank()) {
            throw new IllegalArgumentException("[" + NAME + "] needs a non-blank [text], got [" + text + "]");
        }
        this.text = text;
    }

    public TextQueryVectorBuilder(StreamInput in) throws IOException {
        super(in.readString());
        this.text = in.readString();
    }

    public static TextQueryVectorBuilder fromXContent(XContentParser parser, Void context) {
        return OptionParsing.parse(NAME, () -> PARSER.apply(parser, null), List.of(MODEL_ID, TEXT));
    }

    public String text() {
        return text;
    }

    @Override
    EncodeRequest.Input input() {
        return EncodeRequest.Input.text(text);
    }

    @Override
    ParseField inputField() {
        return TEXT;
    }

    @Override
    public String getWriteableName() {
        return NAME;
    }

    @Override
    public void writeTo(StreamOutput out) throws IOException {
        out.writeString(modelId);
        out.writeString(text);
    }

    @Override
    public XContentBuilder toXContent(XContentBuilder builder, Params params) throws IOException {
        return builder.startObject()
            .field(MODEL_ID.getPreferredName(), modelId)
            .field(TEXT.getPreferredName(), text)
            .endObject();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TextQueryVectorBuilder that && modelId.equals(that.modelId) && text.equals(that.text);
    }

    @Override
    public int hashCode() {
        return Objects.hash(modelId, text);
    }

    @Override
    public String toString() {
        return NAME + "[model_id=" + modelId + ", text=" + text + "]";
    }
}
