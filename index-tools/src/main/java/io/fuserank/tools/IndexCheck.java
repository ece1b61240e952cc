package io.fuserank.tools;

import co.elastic.clients.elasticsearch.ElasticsearchClient;
import co.elastic.clients.elasticsearch._types.ElasticsearchException;
import co.elastic.clients.elasticsearch._types.mapping.Property;
import co.elastic.clients.elasticsearch.indices.GetMappingResponse;
import co.elastic.clients.elasticsearch.indices.get_mapping.IndexMappingRecord;
import co.elastic.clients.elasticsearch.ingest.GetPipelineResponse;

import java.util.Locale;
import java.util.Map;

/**
 * Checks before anything is encoded that the documents will fit the index: the index exists with
 * the layout of {@code example-queries/mappings/image-index.json} or {@code caption-index.json}
 * for the kind indexed (its vector field, {@code image_vector} or {@code text_vector}, a
 * {@code dense_vector} of the model's dimensions; its features field a {@code binary} field with
 * doc values, which the ITM rescorer reads), and for {@code --server-side} that the pipeline
 * exists. A mismatch (a caption run into an image index, say) would otherwise fail every document
 * one by one into the dead-letter file.
 */
final class IndexCheck {

    private final ElasticsearchClient client;
    private final RetryPolicy retryPolicy;
    private final String target;

    IndexCheck(ElasticsearchClient client, RetryPolicy retryPolicy, String target) {
        this.client = client;
        this.retryPolicy = retryPolicy;
        this.target = target;
    }

    /** How to make an index of this kind. */
    static String mappingHint(IndexKind kind) {
        return String.format(Locale.ROOT, "create it with fuserank create-index --kind %s (example-queries/mappings/%s-index.json)",
            kind.label(), kind.label());
    }

    /**
     * @param dims the model's embedding size (client-side), or null when the pipeline's model decides
     * @throws IllegalStateException naming the index, the field and what it is instead
     */
    void checkIndex(String index, IndexKind kind, Integer dims) throws Exception {
        String hint = mappingHint(kind);
        GetMappingResponse response;
        try {
            response = retryPolicy.call(target, () -> client.indices().getMapping(m -> m.index(index)));
        } catch (ElasticsearchException e) {
            if (e.status() == 404) {
                throw new IllegalStateException("index [" + index + "] does not exist: " + hint);
            }
            throw e;
        }
        for (Map.Entry<String, IndexMappingRecord> concrete : response.mappings().entrySet()) {
            Map<String, Property> fields = concrete.getValue().mappings().properties();
            Property vector = fields.get(kind.vectorField());
            if (vector == null || !vector.isDenseVector()) {
                throw new IllegalStateException(String.format(Locale.ROOT, "index [%s] has no dense_vector field [%s] (it has [%s]): %s",
                    concrete.getKey(), kind.vectorField(), vector == null ? "none" : vector._kind().jsonValue(), hint));
            }
            Integer mapped = vector.denseVector().dims();
            if (dims != null && mapped != null && !mapped.equals(dims)) {
                throw new IllegalStateException(String.format(Locale.ROOT, "index [%s] maps [%s] with [%d] dims, the model's embeddings have [%d]",
                    concrete.getKey(), kind.vectorField(), mapped, dims));
            }
            Property features = fields.get(kind.featuresField());
            boolean docValues = features != null && features.isBinary() && features.binary().docValues() != null
                && features.binary().docValues().isEnabled() && Boolean.TRUE.equals(features.binary().docValues().enabled());
            if (!docValues) {
                throw new IllegalStateException(String.format(Locale.ROOT,
                    "index [%s] needs [%s] as a binary field with doc_values: true (the ITM rescorer reads it from doc values), it has [%s]: %s",
                    concrete.getKey(), kind.featuresField(), features == null ? "none" : features._kind().jsonValue(), hint));
            }
        }
    }

    /** @throws IllegalStateException when the pipeline does not exist */
    void checkPipeline(String pipeline, IndexKind kind) throws Exception {
        GetPipelineResponse response;
        try {
            response = retryPolicy.call(target, () -> client.ingest().getPipeline(p -> p.id(pipeline)));
        } catch (ElasticsearchException e) {
            if (e.status() != 404) {
                throw e;
            }
            response = null;
        }
        if (response == null || !response.pipelines().containsKey(pipeline)) {
            throw new IllegalStateException("ingest pipeline [" + pipeline + "] does not exist: create it with fuserank create-index --kind "
                + kind.label() + " --pipeline NAME (example-queries/mappings/" + (kind == IndexKind.IMAGE ? "" : "caption-")
                + "ingest-pipeline.json)");
        }
    }
}
