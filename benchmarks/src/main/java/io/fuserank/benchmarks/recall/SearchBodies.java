package io.fuserank.benchmarks.recall;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * The request bodies the harness times, built the way {@code example-queries/search/} writes them:
 * {@code knn} with the plugin's query vector builder, and for the rerank modes the
 * {@code fuserank_itm} rescorer over a window of the knn's k hits. Only the fields recall needs come
 * back ({@code _source} filtering).
 */
final class SearchBodies {

    /** Hits per answer: enough for R@10. */
    static final int SIZE = 10;
    /** Field names of the CLI's image and caption indices ({@code fuserank create-index}). */
    static final String IMAGE_VECTOR = "image_vector";
    static final String IMAGE_FEATURES = "image_features";
    static final String TEXT_VECTOR = "text_vector";

    private SearchBodies() {
    }

    /** HNSW candidates per shard: four times k, as the example queries use (k 16, 64 candidates). */
    static int numCandidates(int k) {
        return 4 * k;
    }

    /** {@code itcWeight} is the {@code itc_weight} of {@link Mode#KNN_ITM_ITC}; null leaves it to the plugin (the model's). */
    static ObjectNode textToImage(String modelId, String text, Mode.Setting setting, Float itcWeight) {
        ObjectNode body = knn(IMAGE_VECTOR, Math.max(SIZE, setting.k()), "fuserank_text", "text", modelId, text);
        body.putArray("_source").add("path");
        return rescore(body, setting, itcWeight, "text", modelId, text);
    }

    static ObjectNode imageToText(String modelId, String imageBase64, Mode.Setting setting, Float itcWeight) {
        ObjectNode body = knn(TEXT_VECTOR, Math.max(SIZE, setting.k()), "fuserank_image", "image", modelId, imageBase64);
        body.putArray("_source").add("image_path").add("caption_index");
        return rescore(body, setting, itcWeight, "image", modelId, imageBase64);
    }

    /** The client-side rerank's knn: a vector the client encoded, k hits with their token-feature blobs from doc values. */
    static ObjectNode knnWithFeatures(float[] vector, int k) {
        ObjectNode body = JsonNodeFactory.instance.objectNode().put("size", k);
        ObjectNode knn = body.putObject("knn").put("field", IMAGE_VECTOR).put("k", k).put("num_candidates", numCandidates(k));
        var array = knn.putArray("query_vector");
        for (float value : vector) {
            array.add(value);
        }
        body.putArray("_source").add("path");
        body.putArray("docvalue_fields").add(IMAGE_FEATURES);
        return body;
    }

    private static ObjectNode knn(String field, int k, String builder, String inputKey, String modelId, String input) {
        ObjectNode body = JsonNodeFactory.instance.objectNode().put("size", SIZE);
        ObjectNode knn = body.putObject("knn").put("field", field).put("k", k).put("num_candidates", numCandidates(k));
        knn.putObject("query_vector_builder").putObject(builder).put("model_id", modelId).put(inputKey, input);
        return body;
    }

    private static ObjectNode rescore(ObjectNode body, Mode.Setting setting, Float itcWeight, String inputKey, String modelId, String input) {
        if (setting.mode().reranks()) {
            ObjectNode rescore = body.putObject("rescore").put("window_size", setting.k());
            ObjectNode itm = rescore.putObject("fuserank_itm").put("model_id", modelId).put(inputKey, input)
                .put("score_mode", setting.mode().scoreMode());
            if (setting.mode() == Mode.KNN_ITM_ITC && itcWeight != null) {
                itm.put("itc_weight", itcWeight);
            }
        }
        return body;
    }
}
