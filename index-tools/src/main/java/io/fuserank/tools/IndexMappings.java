package io.fuserank.tools;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.fuserank.encoder.FeatureCodec;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * The bodies {@code fuserank create-index} sends, built from a model's manifest values: the index
 * (settings and mappings) and the ingest pipeline. Pure: no model, no connection. The layout is the
 * one of {@code example-queries/mappings/image-index.json}, {@code caption-index.json},
 * {@code ingest-pipeline.json} and {@code caption-ingest-pipeline.json}, and the unit tests hold the
 * two to each other.
 */
final class IndexMappings {

    /** {@code dense_vector} {@code index_options.type} values for float vectors. */
    static final List<String> INDEX_OPTION_TYPES =
        List.of("hnsw", "int8_hnsw", "int4_hnsw", "bbq_hnsw", "flat", "int8_flat", "int4_flat", "bbq_flat", "bbq_disk");
    static final String DEFAULT_INDEX_OPTIONS = "int8_hnsw";
    static final int DEFAULT_M = 16;
    static final int DEFAULT_EF_CONSTRUCTION = 100;
    /** Lucene's HNSW limits (max connections, beam width). */
    static final int MAX_M = 512;
    static final int MAX_EF_CONSTRUCTION = 3200;

    private static final ObjectMapper JSON = new ObjectMapper();

    private IndexMappings() {
    }

    /**
     * The vector field's {@code index_options}: a type, and for the {@code *_hnsw} types {@code m}
     * and {@code ef_construction} ({@code null}: the defaults, 16 and 100).
     */
    record VectorIndexOptions(String type, Integer m, Integer efConstruction) {

        static VectorIndexOptions defaults() {
            return new VectorIndexOptions(DEFAULT_INDEX_OPTIONS, null, null);
        }

        boolean hnsw() {
            return type.endsWith("_hnsw") || type.equals("hnsw");
        }

        /** Checks the type and the graph parameters; the message names the values. */
        void validate() {
            if (INDEX_OPTION_TYPES.contains(type) == false) {
                throw new IllegalArgumentException(String.format(Locale.ROOT,
                    "--index-options [%s] is not one of %s", type, INDEX_OPTION_TYPES));
            }
            if (hnsw() == false && (m != null || efConstruction != null)) {
                throw new IllegalArgumentException(String.format(Locale.ROOT,
                    "--m and --ef-construction apply to the hnsw index options only, not to [%s]", type));
            }
            if (m != null && (m < 2 || m > MAX_M)) {
                throw new IllegalArgumentException(String.format(Locale.ROOT, "--m [%d] must be between 2 and %d", m, MAX_M));
            }
            if (efConstruction != null && (efConstruction < 1 || efConstruction > MAX_EF_CONSTRUCTION)) {
                throw new IllegalArgumentException(String.format(Locale.ROOT,
                    "--ef-construction [%d] must be between 1 and %d", efConstruction, MAX_EF_CONSTRUCTION));
            }
        }

        /** Checks the type against the vector's dims: bbq needs 64 or more, int4 an even number. */
        void validateDims(int dims) {
            if (type.startsWith("bbq_") && dims < 64) {
                throw new IllegalArgumentException(String.format(Locale.ROOT,
                    "--index-options [%s] needs at least 64 dims; the model's embedding has [%d]", type, dims));
            }
            if (type.startsWith("int4_") && dims % 2 != 0) {
                throw new IllegalArgumentException(String.format(Locale.ROOT,
                    "--index-options [%s] needs an even number of dims; the model's embedding has [%d]", type, dims));
            }
        }

        ObjectNode toJson() {
            ObjectNode node = JSON.createObjectNode().put("type", type);
            if (hnsw()) {
                node.put("m", m == null ? DEFAULT_M : m);
                node.put("ef_construction", efConstruction == null ? DEFAULT_EF_CONSTRUCTION : efConstruction);
            }
            return node;
        }
    }

    /**
     * The create-index body. {@code shards}, {@code replicas} and {@code defaultPipeline} are left
     * out when null (the cluster's defaults, no pipeline); with none of them there is no
     * {@code settings} object, exactly as in the example files.
     */
    static ObjectNode indexBody(IndexKind kind, int dims, String similarity, VectorIndexOptions options,
                                Integer shards, Integer replicas, String defaultPipeline) {
        options.validate();
        options.validateDims(dims);
        ObjectNode body = JSON.createObjectNode();
        if (shards != null || replicas != null || defaultPipeline != null) {
            ObjectNode settings = body.putObject("settings");
            if (shards != null) {
                settings.put("index.number_of_shards", shards);
            }
            if (replicas != null) {
                settings.put("index.number_of_replicas", replicas);
            }
            if (defaultPipeline != null) {
                settings.put("index.default_pipeline", defaultPipeline);
            }
        }
        ObjectNode mappings = body.putObject("mappings");
        // The features blob is read from doc values by the rescorer; in _source it would triple the document.
        mappings.putObject("_source").putArray("excludes").add(kind.featuresField());
        ObjectNode properties = mappings.putObject("properties");
        properties.putObject(kind.sourceField()).put("type", kind.sourceType());
        properties.putObject(kind.vectorField())
            .put("type", "dense_vector")
            .put("element_type", "float")
            .put("dims", dims)
            .put("index", true)
            .put("similarity", similarity)
            .set("index_options", options.toJson());
        properties.putObject(kind.featuresField()).put("type", "binary").put("doc_values", true);
        return body;
    }

    /** The ingest pipeline body: one {@code fuserank} processor; {@code codec} null means the model manifest's. */
    static ObjectNode pipelineBody(IndexKind kind, String modelId, String codec) {
        ObjectNode body = JSON.createObjectNode();
        String what = kind == IndexKind.IMAGE ? "the base64 image" : "the text";
        body.put("description", String.format(Locale.ROOT, "fuserank: encode %s in [%s] with %s into [%s] and [%s]",
            what, kind.sourceField(), modelId, kind.vectorField(), kind.featuresField()));
        ObjectNode processor = body.putArray("processors").addObject().putObject("fuserank");
        processor.put("model_id", modelId)
            .put(kind.processorOption(), kind.sourceField())
            .put("vector_field", kind.vectorField())
            .put("features_field", kind.featuresField());
        if (codec != null) {
            processor.put("codec", codec);
        }
        return body;
    }

    /** Checks a feature codec name against {@link FeatureCodec}'s; the message names the value. */
    static void validateCodec(String codec) {
        try {
            FeatureCodec.fromLabel(codec);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(String.format(Locale.ROOT, "--codec [%s] is not one of %s", codec,
                Arrays.stream(FeatureCodec.values()).map(FeatureCodec::label).toList()));
        }
    }
}
