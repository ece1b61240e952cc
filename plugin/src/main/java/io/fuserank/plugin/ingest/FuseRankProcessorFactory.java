package io.fuserank.plugin.ingest;

import io.fuserank.encoder.FeatureCodec;
import io.fuserank.plugin.action.EncodeRequest;
import io.fuserank.plugin.action.EncodeResponse;
import io.fuserank.plugin.action.InternalEncodeClient;
import io.fuserank.plugin.model.ModelRegistry;
import org.elasticsearch.action.ActionListener;
import org.elasticsearch.client.internal.Client;
import org.elasticsearch.cluster.metadata.ProjectId;
import org.elasticsearch.common.util.concurrent.ThreadContext;
import org.elasticsearch.ingest.ConfigurationUtils;
import org.elasticsearch.ingest.Processor;

import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.BiConsumer;

import static org.elasticsearch.ingest.ConfigurationUtils.newConfigurationException;

/**
 * Builds {@code fuserank} processors from pipeline definitions and checks their options when the
 * pipeline is stored, so that a typo is an error at {@code PUT _ingest/pipeline}, not on every
 * document.
 *
 * <p>The factory exists before the plugin's components, so it reaches the models through the
 * node client's encode action, sent on behalf of the bulk requests whose documents it encodes
 * ({@link io.fuserank.plugin.action.InternalEncodeClient}). It holds one {@link EncodeBatcher} per model id, shared by all
 * pipelines on the node: documents of concurrent bulk requests and of different pipelines that
 * use the same model are batched together. The model itself is not loaded here (that would block
 * the cluster-state applier thread, which builds pipelines, for a second); an unknown model id
 * fails the documents that use it.
 */
public final class FuseRankProcessorFactory implements Processor.Factory {

    /**
     * Inputs per encode call: enough to amortise the per-call cost over a bulk request, and
     * small enough that one call's memory and latency stay bounded and a large bulk request does
     * not hold the inference pool for long while search requests wait behind it.
     */
    static final int MAX_BATCH = 64;

    static final String MODEL_ID = "model_id";
    static final String VECTOR_FIELD = "vector_field";
    static final String FEATURES_FIELD = "features_field";
    static final String CODEC = "codec";
    static final String IGNORE_MISSING = "ignore_missing";
    static final List<String> OPTIONS = List.of(MODEL_ID, DocumentKind.IMAGE.option(), DocumentKind.TEXT.option(), VECTOR_FIELD,
        FEATURES_FIELD, CODEC, IGNORE_MISSING);

    private final BiConsumer<EncodeRequest, ActionListener<EncodeResponse>> encoder;
    private final ThreadContext threadContext;
    private final Map<String, EncodeBatcher> batchers = new ConcurrentHashMap<>();

    public FuseRankProcessorFactory(Client client, ThreadContext threadContext) {
        this((request, listener) -> InternalEncodeClient.execute(client, request, listener), threadContext);
    }

    FuseRankProcessorFactory(BiConsumer<EncodeRequest, ActionListener<EncodeResponse>> encoder, ThreadContext threadContext) {
        this.encoder = encoder;
        this.threadContext = threadContext;
    }

    @Override
    public FuseRankProcessor create(Map<String, Processor.Factory> registry, String tag, String description,
                                    Map<String, Object> config, ProjectId projectId) {
        rejectUnknownOptions(tag, config);
        String modelId = ConfigurationUtils.readStringProperty(FuseRankProcessor.TYPE, tag, config, MODEL_ID);
        try {
            ModelRegistry.validateId(modelId);
        } catch (IllegalArgumentException e) {
            throw newConfigurationException(FuseRankProcessor.TYPE, tag, MODEL_ID, e.getMessage());
        }
        String imageField = ConfigurationUtils.readOptionalStringProperty(FuseRankProcessor.TYPE, tag, config,
            DocumentKind.IMAGE.option());
        String textField = ConfigurationUtils.readOptionalStringProperty(FuseRankProcessor.TYPE, tag, config,
            DocumentKind.TEXT.option());
        if (imageField != null && textField != null) {
            throw newConfigurationException(FuseRankProcessor.TYPE, tag, DocumentKind.TEXT.option(), "only one of [image_field] and"
                + " [text_field] can be set (a document is an image or a caption), got [" + imageField + "] and [" + textField + "]");
        }
        if (imageField == null && textField == null) {
            throw newConfigurationException(FuseRankProcessor.TYPE, tag, DocumentKind.IMAGE.option(),
                "one of [image_field] (an image document) or [text_field] (a caption document) is required");
        }
        DocumentKind kind = imageField != null ? DocumentKind.IMAGE : DocumentKind.TEXT;
        String sourceField = imageField != null ? imageField : textField;
        String vectorField = ConfigurationUtils.readStringProperty(FuseRankProcessor.TYPE, tag, config, VECTOR_FIELD,
            kind.defaultVectorField());
        String featuresField = ConfigurationUtils.readStringProperty(FuseRankProcessor.TYPE, tag, config, FEATURES_FIELD,
            kind.defaultFeaturesField());
        requireDistinct(tag, kind, sourceField, vectorField, featuresField);
        FeatureCodec codec = readCodec(tag, config);
        boolean ignoreMissing = ConfigurationUtils.readBooleanProperty(FuseRankProcessor.TYPE, tag, config, IGNORE_MISSING, false);
        EncodeBatcher batcher = batchers.computeIfAbsent(modelId, id -> new EncodeBatcher(id, MAX_BATCH, encoder, threadContext));
        return new FuseRankProcessor(tag, description, modelId, kind, sourceField, vectorField, featuresField, codec, ignoreMissing,
            batcher);
    }

    /** Checked first, so that a misspelt option is reported as such rather than as the option it was meant to be missing. */
    private static void rejectUnknownOptions(String tag, Map<String, Object> config) {
        List<String> unknown = config.keySet().stream().filter(key -> OPTIONS.contains(key) == false).sorted().toList();
        if (unknown.isEmpty() == false) {
            throw newConfigurationException(FuseRankProcessor.TYPE, tag, null, "unknown options " + unknown + "; valid options: "
                + OPTIONS);
        }
    }

    private static void requireDistinct(String tag, DocumentKind kind, String sourceField, String vectorField, String featuresField) {
        if (vectorField.equals(featuresField)) {
            throw newConfigurationException(FuseRankProcessor.TYPE, tag, FEATURES_FIELD,
                "[vector_field] and [features_field] must differ, both are [" + vectorField + "]");
        }
        if (sourceField.equals(vectorField) || sourceField.equals(featuresField)) {
            throw newConfigurationException(FuseRankProcessor.TYPE, tag, kind.option(), "[" + kind.option() + "] [" + sourceField
                + "] must differ from [vector_field] [" + vectorField + "] and [features_field] [" + featuresField
                + "]: the processor keeps its input");
        }
    }

    /** The configured codec, or null for the model manifest's. */
    private static FeatureCodec readCodec(String tag, Map<String, Object> config) {
        String label = ConfigurationUtils.readOptionalStringProperty(FuseRankProcessor.TYPE, tag, config, CODEC);
        if (label == null) {
            return null;
        }
        try {
            return FeatureCodec.fromLabel(label);
        } catch (IllegalArgumentException e) {
            throw newConfigurationException(FuseRankProcessor.TYPE, tag, CODEC, e.getMessage());
        }
    }
}
