package io.fuserank.plugin.rescore;

import io.fuserank.encoder.TokenFeatures;
import io.fuserank.plugin.action.EncodeResponse;
import org.elasticsearch.common.io.stream.StreamInput;
import org.elasticsearch.common.io.stream.StreamOutput;
import org.elasticsearch.common.io.stream.Writeable;

import java.io.IOException;
import java.util.Arrays;
import java.util.Objects;

/**
 * The rescorer's query as the coordinating node encoded it: the ITC embedding (for the ITC part of
 * the score), the token features the fusion encoder cross-attends with, and the ITC weight the
 * model's manifest recommends (the {@code itc_weight} of a request that names none). It travels to
 * every shard inside the rescorer builder, so the query is encoded once per search whatever the
 * shard count, and no shard needs the model's manifest.
 */
public record EncodedQuery(float[] embedding, TokenFeatures features, float modelItcWeight) implements Writeable {

    public EncodedQuery {
        Objects.requireNonNull(embedding, "embedding");
        Objects.requireNonNull(features, "features");
    }

    /** The query of a response to one input that the model encoded. */
    public static EncodedQuery of(EncodeResponse response) {
        EncodeResponse.Result result = response.results().get(0);
        return new EncodedQuery(result.embedding(), result.features(), response.modelItcWeight());
    }

    public static EncodedQuery readFrom(StreamInput in) throws IOException {
        return new EncodedQuery(in.readFloatArray(), EncodeResponse.readFeatures(in), in.readFloat());
    }

    @Override
    public void writeTo(StreamOutput out) throws IOException {
        out.writeFloatArray(embedding);
        EncodeResponse.writeFeatures(out, features);
        out.writeFloat(modelItcWeight);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof EncodedQuery that && Arrays.equals(embedding, that.embedding)
            && features.layers() == that.features.layers() && features.tokens() == that.features.tokens()
            && features.width() == that.features.width() && Arrays.equals(features.values(), that.features.values())
            && Float.compare(modelItcWeight, that.modelItcWeight) == 0;
    }

    @Override
    public int hashCode() {
        return 31 * Arrays.hashCode(embedding) + Arrays.hashCode(features.values());
    }

    @Override
    public String toString() {
        return "embedding[" + embedding.length + "], features[" + features.layers() + " x " + features.tokens() + " x "
            + features.width() + "], model itc_weight " + modelItcWeight;
    }
}
