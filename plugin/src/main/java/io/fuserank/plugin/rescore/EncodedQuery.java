package io.fuserank.plugin.rescore;

import io.fuserank.encoder.Encoding;
import io.fuserank.encoder.TokenFeatures;
import io.fuserank.plugin.action.EncodeResponse;
import io.fuserank.reranker.RerankDefaults;
import org.elasticsearch.common.io.stream.StreamInput;
import org.elasticsearch.common.io.stream.StreamOutput;
import org.elasticsearch.common.io.stream.Writeable;

import java.io.IOException;
import java.util.Arrays;
import java.util.Objects;

/**
 * The rescorer's query as the coordinating node encoded it: its {@link Encoding} (the ITC
 * embedding for the ITC part of the score, null for a model without ITC; the token features or token ids that the model's fusion
 * graph reads from the query side) and the score mode and ITC weight the model's manifest
 * recommends (those of a request that names none). It travels to every shard inside the rescorer
 * builder, so the query is encoded once per search whatever the shard count, and no shard needs the
 * model's manifest.
 */
public record EncodedQuery(Encoding encoding, RerankDefaults modelRerank) implements Writeable {

    public EncodedQuery {
        Objects.requireNonNull(encoding, "encoding");
        Objects.requireNonNull(modelRerank, "modelRerank");
    }

    /** The query of a response to one input that the model encoded. */
    public static EncodedQuery of(EncodeResponse response) {
        return new EncodedQuery(response.results().get(0).encoding(), response.modelRerank());
    }

    public static EncodedQuery readFrom(StreamInput in) throws IOException {
        return new EncodedQuery(EncodeResponse.readEncoding(in), EncodeResponse.readRerankDefaults(in));
    }

    /** The query's ITC embedding, null where the model has none. */
    public float[] embedding() {
        return encoding.embedding();
    }

    @Override
    public void writeTo(StreamOutput out) throws IOException {
        EncodeResponse.writeEncoding(out, encoding);
        EncodeResponse.writeRerankDefaults(out, modelRerank);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof EncodedQuery that && Arrays.equals(embedding(), that.embedding())
            && sameFeatures(encoding.tokenFeatures(), that.encoding.tokenFeatures())
            && Arrays.equals(encoding.tokenIds(), that.encoding.tokenIds())
            && modelRerank.equals(that.modelRerank);
    }

    private static boolean sameFeatures(TokenFeatures a, TokenFeatures b) {
        if (a == null || b == null) {
            return a == b;
        }
        return a.layers() == b.layers() && a.tokens() == b.tokens() && a.width() == b.width() && Arrays.equals(a.values(), b.values());
    }

    @Override
    public int hashCode() {
        TokenFeatures features = encoding.tokenFeatures();
        return 31 * (31 * Arrays.hashCode(embedding()) + (features == null ? 0 : Arrays.hashCode(features.values())))
            + Arrays.hashCode(encoding.tokenIds());
    }

    @Override
    public String toString() {
        TokenFeatures f = encoding.tokenFeatures();
        return (embedding() == null ? "no embedding" : "embedding[" + embedding().length + "]")
            + (f == null ? "" : ", features[" + f.layers() + " x " + f.tokens() + " x " + f.width() + "]")
            + (encoding.tokenIds() == null ? "" : ", token ids[" + encoding.tokenIds().length + "]")
            + ", model " + modelRerank;
    }
}
