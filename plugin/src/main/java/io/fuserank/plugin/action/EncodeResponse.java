package io.fuserank.plugin.action;

import io.fuserank.encoder.DocumentStorage;
import io.fuserank.encoder.Encoding;
import io.fuserank.encoder.FeatureCodec;
import io.fuserank.encoder.FusionDeclaration.Modality;
import io.fuserank.encoder.FusionDeclaration.Quantity;
import io.fuserank.encoder.TokenFeatures;
import io.fuserank.encoder.TokenIdsCodec;
import io.fuserank.reranker.RerankDefaults;
import io.fuserank.reranker.ScoreMode;
import org.elasticsearch.action.ActionResponse;
import org.elasticsearch.common.io.stream.StreamInput;
import org.elasticsearch.common.io.stream.StreamOutput;
import org.elasticsearch.common.io.stream.Writeable;

import java.io.IOException;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * One result per input, in order: its {@link Encoding} (ITC embedding, token features where the
 * encoder has them, a text's token ids), or why this input could not be encoded (so one bad image
 * fails its own document, not the whole bulk request); plus what the model's manifest says, so that
 * a caller can use it without loading the model itself: what a document stores and with which codec
 * (for the ingest processor) and the score mode and ITC weight of the reranked score (the
 * rescorer's defaults).
 */
public final class EncodeResponse extends ActionResponse {

    /**
     * Exactly one of encoding and error is set. The error is an {@link IllegalArgumentException}
     * when the input itself is bad (400), or the node's own exception when it could not take the
     * input now (a tripped memory breaker: 429).
     */
    public record Result(Encoding encoding, Exception error) implements Writeable {

        public static Result ok(Encoding encoding) {
            return new Result(Objects.requireNonNull(encoding, "encoding"), null);
        }

        /** The input is bad: {@code reason} says why, naming the value. */
        public static Result invalid(String reason) {
            return failed(new IllegalArgumentException(reason));
        }

        public static Result failed(Exception error) {
            return new Result(null, Objects.requireNonNull(error, "error"));
        }

        Result(StreamInput in) throws IOException {
            this(in.readBoolean() ? readEncoding(in) : null, in.readOptionalException());
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
            out.writeBoolean(encoding != null);
            if (encoding != null) {
                writeEncoding(out, encoding);
            }
            out.writeOptionalException(error);
        }
    }

    private final List<Result> results;
    private final DocumentStorage documentStorage;
    private final RerankDefaults modelRerank;

    public EncodeResponse(List<Result> results, DocumentStorage documentStorage, RerankDefaults modelRerank) {
        this.results = List.copyOf(results);
        this.documentStorage = Objects.requireNonNull(documentStorage, "documentStorage");
        this.modelRerank = Objects.requireNonNull(modelRerank, "modelRerank");
    }

    public EncodeResponse(StreamInput in) throws IOException {
        this.results = in.readCollectionAsList(Result::new);
        this.documentStorage = readDocumentStorage(in);
        this.modelRerank = readRerankDefaults(in);
    }

    public List<Result> results() {
        return results;
    }

    /** What the model's documents store for its fusion graph, and the codec its manifest asks for. */
    public DocumentStorage documentStorage() {
        return documentStorage;
    }

    /** The score mode and ITC weight of the reranked score that the model's manifest recommends. */
    public RerankDefaults modelRerank() {
        return modelRerank;
    }

    @Override
    public void writeTo(StreamOutput out) throws IOException {
        out.writeCollection(results);
        writeDocumentStorage(out, documentStorage);
        writeRerankDefaults(out, modelRerank);
    }

    /** The model's rerank defaults on the wire (also inside the rescorer builder). */
    public static void writeRerankDefaults(StreamOutput out, RerankDefaults defaults) throws IOException {
        out.writeEnum(defaults.mode());
        out.writeFloat(defaults.itcWeight());
        out.writeBoolean(defaults.hasItc());
    }

    public static RerankDefaults readRerankDefaults(StreamInput in) throws IOException {
        return new RerankDefaults(in.readEnum(ScoreMode.class), in.readFloat(), in.readBoolean());
    }

    /** An encoding on the wire (also inside the rescorer builder): the optional embedding, then optional features and ids. */
    public static void writeEncoding(StreamOutput out, Encoding encoding) throws IOException {
        out.writeBoolean(encoding.embedding() != null);
        if (encoding.embedding() != null) {
            out.writeFloatArray(encoding.embedding());
        }
        writeFeatures(out, encoding.tokenFeatures());
        out.writeBoolean(encoding.tokenIds() != null);
        if (encoding.tokenIds() != null) {
            out.writeVLongArray(encoding.tokenIds());
        }
    }

    public static Encoding readEncoding(StreamInput in) throws IOException {
        return new Encoding(in.readBoolean() ? in.readFloatArray() : null, readFeatures(in), in.readBoolean() ? in.readVLongArray() : null);
    }

    private static void writeDocumentStorage(StreamOutput out, DocumentStorage storage) throws IOException {
        for (Modality modality : Modality.values()) {
            out.writeOptionalEnum(storage.stores(modality).orElse(null));
        }
        out.writeEnum(storage.modelCodec());
        out.writeBoolean(storage.idLimits() != null);
        if (storage.idLimits() != null) {
            out.writeVInt(storage.idLimits().maxTokens());
            out.writeVInt(storage.idLimits().vocabSize());
        }
    }

    private static DocumentStorage readDocumentStorage(StreamInput in) throws IOException {
        Map<Modality, Optional<Quantity>> stored = new EnumMap<>(Modality.class);
        for (Modality modality : Modality.values()) {
            stored.put(modality, Optional.ofNullable(in.readOptionalEnum(Quantity.class)));
        }
        FeatureCodec codec = in.readEnum(FeatureCodec.class);
        TokenIdsCodec.Limits limits = in.readBoolean() ? new TokenIdsCodec.Limits(in.readVInt(), in.readVInt()) : null;
        return new DocumentStorage(stored, codec, limits);
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
