package io.fuserank.plugin.action;

import io.fuserank.encoder.FeatureCodec;
import io.fuserank.encoder.TokenFeatures;
import org.elasticsearch.action.ActionResponse;
import org.elasticsearch.common.io.stream.StreamInput;
import org.elasticsearch.common.io.stream.StreamOutput;
import org.elasticsearch.common.io.stream.Writeable;

import java.io.IOException;
import java.util.List;
import java.util.Objects;

/**
 * One result per input, in order: the ITC embedding and token features, or why this input could
 * not be encoded (so one bad image fails its own document, not the whole bulk request);
 * plus two defaults of the model's manifest, so that a caller can use them without loading the
 * model itself: the codec token features are stored with (for the ingest processor) and the ITC
 * weight of the reranked score (for the rescorer's {@code itc_weight}).
 */
public final class EncodeResponse extends ActionResponse {

    /**
     * Exactly one of (embedding, features) and error is set. The error is an
     * {@link IllegalArgumentException} when the input itself is bad (400), or the node's own
     * exception when it could not take the input now (a tripped memory breaker: 429).
     */
    public record Result(float[] embedding, TokenFeatures features, Exception error) implements Writeable {

        public static Result ok(float[] embedding, TokenFeatures features) {
            return new Result(embedding, features, null);
        }

        /** The input is bad: {@code reason} says why, naming the value. */
        public static Result invalid(String reason) {
            return failed(new IllegalArgumentException(reason));
        }

        public static Result failed(Exception error) {
            return new Result(null, null, Objects.requireNonNull(error, "error"));
        }

        Result(StreamInput in) throws IOException {
            this(in.readOptionalFloatArray(), readFeatures(in), in.readOptionalException());
        }

        public boolean failed() {
            return error != null;
        }

        /**
         * The exception to fail this input's request or document with: a bad input's reason after
         * {@code context} (which names the field or query), still a 400; any other error as it is,
         * keeping its type and status.
         */
        public Exception failure(String context) {
            return error instanceof IllegalArgumentException ? new IllegalArgumentException(context + ": " + error.getMessage()) : error;
        }

        @Override
        public void writeTo(StreamOutput out) throws IOException {
            out.writeOptionalFloatArray(embedding);
            writeFeatures(out, features);
            out.writeOptionalException(error);
        }
    }

    private final List<Result> results;
    private final FeatureCodec modelCodec;
    private final float modelItcWeight;

    public EncodeResponse(List<Result> results, FeatureCodec modelCodec, float modelItcWeight) {
        this.results = List.copyOf(results);
        this.modelCodec = Objects.requireNonNull(modelCodec, "modelCodec");
        this.modelItcWeight = modelItcWeight;
    }

    public EncodeResponse(StreamInput in) throws IOException {
        this.results = in.readCollectionAsList(Result::new);
        this.modelCodec = in.readEnum(FeatureCodec.class);
        this.modelItcWeight = in.readFloat();
    }

    public List<Result> results() {
        return results;
    }

    /** The codec the model's manifest asks token features to be stored with. */
    public FeatureCodec modelCodec() {
        return modelCodec;
    }

    /** The ITC weight of the reranked score that the model's manifest recommends. */
    public float modelItcWeight() {
        return modelItcWeight;
    }

    @Override
    public void writeTo(StreamOutput out) throws IOException {
        out.writeCollection(results);
        out.writeEnum(modelCodec);
        out.writeFloat(modelItcWeight);
    }

    /** Token features on the wire (also used by the rescorer builder): shape, then the floats. */
    public static void writeFeatures(StreamOutput out, TokenFeatures features) throws IOException {
        out.writeBoolean(features != null);
        if (features != null) {
            out.writeVInt(features.layers());
            out.writeVInt(features.tokens());
            out.writeVInt(features.width());
            out.writeFloatArray(features.values());
        }
    }

    public static TokenFeatures readFeatures(StreamInput in) throws IOException {
        if (in.readBoolean() == false) {
            return null;
        }
        return new TokenFeatures(in.readVInt(), in.readVInt(), in.readVInt(), in.readFloatArray());
    }
}
