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
 * the score) and the token features the fusion encoder cross-attends with. It travels to every shard
 * inside the rescorer builder, so the query is encoded once per search whatever the shard count.
 */
public record EncodedQuery(float[] embedding, TokenFeatures features) implements Writeable {

    public EncodedQuery {
        Objects.requireNonNull(embedding, "embedding");
        Objects.requireNonNull(features, "features");
    }

    public static EncodedQuery of(EncodeResponse.Result result) {
        return new EncodedQuery(result.embedding(), result.features());
    }

    public static EncodedQuery readFrom(StreamInput in) throws IOException {
        return new EncodedQuery(in.readFloatArray(), EncodeResponse.readFeatures(in));
    }

    @Override
    public void writeTo(StreamOutput out) throws IOException {
        out.writeFloatArray(embedding);
        EncodeResponse.writeFeatures(out, features);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof EncodedQuery that && Arrays.equals(embedding, that.embedding)
            && features.layers() == that.features.layers() && features.tokens() == that.features.tokens()
            && features.width() == that.features.width() && Arrays.equals(features.values(), that.features.values());
    }

    @Override
    public int hashCode() {
        return 31 * Arrays.hashCode(embedding) + Arrays.hashCode(features.values());
    }

    @Override
    public String toString() {
        return "embedding[" + embedding.length + "], features[" + features.layers() + " x " + features.tokens() + " x "
            + features.width() + "]";
    }
}
