package io.fuserank.plugin.ingest;

import io.fuserank.encoder.DocumentStorage;
import io.fuserank.encoder.FeatureCodec;
import io.fuserank.plugin.action.EncodeRequest;
import io.fuserank.plugin.action.EncodeResponse;
import org.elasticsearch.action.ActionListener;
import org.elasticsearch.core.Nullable;
import org.elasticsearch.ingest.AbstractProcessor;
import org.elasticsearch.ingest.IngestDocument;

import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.function.BiConsumer;

/**
 * The {@code fuserank} ingest processor: encodes a document's image or caption with a model and
 * writes the ITC embedding (for the {@code dense_vector} field that kNN searches) and what the
 * model's documents of that kind store for its fusion graph (for the {@code binary} doc-values
 * field that the ITM rescorer reads): token features as a {@link FeatureCodec} blob, or a
 * caption's token ids where the model's ITM reads ids (BLIP), as {@link DocumentStorage} decides.
 *
 * <p>Asynchronous: ingest threads never run a model. The document's input goes to the model's
 * {@link EncodeBatcher}, which sends it with the other documents in flight in one encode action
 * on the plugin's inference pool. A document whose input cannot be encoded (not base64, not an
 * image, an empty caption) fails alone with a reason naming its field, so {@code on_failure}
 * and the bulk response handle it and the rest of the bulk request is indexed; so does an image
 * that the node's memory breaker refuses (a 429 for that document). Nothing else in
 * the document changes: the source field stays (so {@code _reindex} through the pipeline can
 * rebuild the features, which the documented mappings keep out of {@code _source}).
 */
public final class FuseRankProcessor extends AbstractProcessor {

    public static final String TYPE = "fuserank";

    private final String modelId;
    private final DocumentKind kind;
    private final String sourceField;
    private final String vectorField;
    private final String featuresField;
    private final FeatureCodec codec;
    private final boolean ignoreMissing;
    private final EncodeBatcher batcher;

    /** @param codec the blob codec, or null for the model manifest's (known only once the model answers) */
    FuseRankProcessor(String tag, String description, String modelId, DocumentKind kind, String sourceField, String vectorField,
                      String featuresField, @Nullable FeatureCodec codec, boolean ignoreMissing, EncodeBatcher batcher) {
        super(tag, description);
        this.modelId = modelId;
        this.kind = kind;
        this.sourceField = sourceField;
        this.vectorField = vectorField;
        this.featuresField = featuresField;
        this.codec = codec;
        this.ignoreMissing = ignoreMissing;
        this.batcher = batcher;
    }

    @Override
    public String getType() {
        return TYPE;
    }

    @Override
    public boolean isAsync() {
        return true;
    }

    @Override
    public IngestDocument execute(IngestDocument document) {
        throw new UnsupportedOperationException("the [" + TYPE + "] processor is asynchronous: ingest calls execute(document, handler)");
    }

    @Override
    public void execute(IngestDocument document, BiConsumer<IngestDocument, Exception> handler) {
        EncodeRequest.Input input;
        try {
            Object value = document.getFieldValue(sourceField, Object.class, ignoreMissing);
            if (value == null) {
                if (ignoreMissing) {
                    handler.accept(document, null);
                    return;
                }
                throw new IllegalArgumentException("field [" + sourceField + "] is null, cannot encode it");
            }
            input = kind.read(sourceField, value);
        } catch (Exception e) {
            handler.accept(null, e);
            return;
        }
        batcher.submit(input, new ActionListener<>() {
            @Override
            public void onResponse(EncodeBatcher.Encoded encoded) {
                Exception failure = write(document, encoded);
                handler.accept(failure == null ? document : null, failure);
            }

            @Override
            public void onFailure(Exception e) {
                handler.accept(null, e);
            }
        });
    }

    /** Writes the target fields (the vector where the model has ITC), or returns why not (leaving the document as it was). */
    private Exception write(IngestDocument document, EncodeBatcher.Encoded encoded) {
        EncodeResponse.Result result = encoded.result();
        if (result.failed()) {
            return result.failure("field [" + sourceField + "] cannot be encoded by model [" + modelId + "]");
        }
        try {
            byte[] blob = encoded.storage().blob(kind.modality(), result.encoding(), codec);
            if (result.encoding().embedding() != null) { // a model without ITC writes its features alone
                document.setFieldValue(vectorField, toList(result.encoding().embedding()));
            }
            if (blob != null) {
                document.setFieldValue(featuresField, Base64.getEncoder().encodeToString(blob));
            }
            return null;
        } catch (RuntimeException e) {
            return e;
        }
    }

    /** A list, not a float[]: ingest documents are deep-copied (simulate, on_failure) and float[] is not a copyable value. */
    private static List<Float> toList(float[] vector) {
        List<Float> list = new ArrayList<>(vector.length);
        for (float v : vector) {
            list.add(v);
        }
        return list;
    }

    String modelId() {
        return modelId;
    }

    DocumentKind kind() {
        return kind;
    }

    String sourceField() {
        return sourceField;
    }

    String vectorField() {
        return vectorField;
    }

    String featuresField() {
        return featuresField;
    }

    /** The configured codec, or null for the model manifest's. */
    FeatureCodec codec() {
        return codec;
    }

    boolean ignoreMissing() {
        return ignoreMissing;
    }

    EncodeBatcher batcher() {
        return batcher;
    }
}
