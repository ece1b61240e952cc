package io.fuserank.plugin.action;

import org.elasticsearch.action.ActionRequest;
import org.elasticsearch.action.ActionRequestValidationException;
import org.elasticsearch.common.io.stream.StreamInput;
import org.elasticsearch.common.io.stream.StreamOutput;
import org.elasticsearch.common.io.stream.Writeable;

import java.io.IOException;
import java.util.List;
import java.util.Objects;

import static org.elasticsearch.action.ValidateActions.addValidationError;

/** A batch of inputs for one model; every input is either a text or an encoded image file. */
public final class EncodeRequest extends ActionRequest {

    /** One text or one image (encoded file bytes, not base64). */
    public record Input(String text, byte[] image) implements Writeable {
        public Input {
            if ((text == null) == (image == null)) {
                throw new IllegalArgumentException("an input is either a text or an image");
            }
        }

        public static Input text(String text) {
            return new Input(Objects.requireNonNull(text, "text"), null);
        }

        public static Input image(byte[] image) {
            return new Input(null, Objects.requireNonNull(image, "image"));
        }

        Input(StreamInput in) throws IOException {
            this(in.readOptionalString(), in.readBoolean() ? in.readByteArray() : null);
        }

        public boolean isText() {
            return text != null;
        }

        @Override
        public void writeTo(StreamOutput out) throws IOException {
            out.writeOptionalString(text);
            out.writeBoolean(image != null);
            if (image != null) {
                out.writeByteArray(image);
            }
        }
    }

    private final String modelId;
    private final List<Input> inputs;

    public EncodeRequest(String modelId, List<Input> inputs) {
        this.modelId = modelId;
        this.inputs = List.copyOf(inputs);
    }

    public EncodeRequest(StreamInput in) throws IOException {
        super(in);
        this.modelId = in.readString();
        this.inputs = in.readCollectionAsList(Input::new);
    }

    public String modelId() {
        return modelId;
    }

    public List<Input> inputs() {
        return inputs;
    }

    @Override
    public ActionRequestValidationException validate() {
        ActionRequestValidationException e = null;
        if (modelId == null || modelId.isEmpty()) {
            e = addValidationError("[model_id] is required", e);
        }
        if (inputs.isEmpty()) {
            e = addValidationError("nothing to encode", e);
        }
        return e;
    }

    @Override
    public void writeTo(StreamOutput out) throws IOException {
        super.writeTo(out);
        out.writeString(modelId);
        out.writeCollection(inputs);
    }
}
