package io.fuserank.tools;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.fuserank.reranker.ScorePart;

import java.util.ArrayList;
import java.util.List;

/**
 * The search bodies {@code fuserank search} sends and the reading of their responses. Pure: no
 * connection. The bodies have the layout of {@code example-queries/search/text-to-image.json} and
 * {@code image-to-text.json}: kNN with a {@code fuserank_text} or {@code fuserank_image} query
 * vector builder, then the {@code fuserank_itm} rescorer over the top {@code window} hits.
 */
final class SearchRequests {

    /** The most candidates a kNN search may ask for. */
    static final int MAX_NUM_CANDIDATES = 10_000;

    private SearchRequests() {
    }

    /**
     * One query: a text or an image (standard base64), exactly one non-null. {@code documents} is
     * the kind of document searched; the rescorer runs only across modalities (text against images,
     * image against captions).
     */
    record Query(String text, String imageBase64) {
        Query {
            if ((text == null) == (imageBase64 == null)) {
                throw new IllegalArgumentException("a query is a text or an image, exactly one");
            }
        }

        boolean isText() {
            return text != null;
        }

        /** The kind of document the fusion encoder scores against this query. */
        IndexKind rescorable() {
            return isText() ? IndexKind.IMAGE : IndexKind.CAPTION;
        }

        ObjectNode put(ObjectNode node) {
            return isText() ? node.put("text", text) : node.put("image", imageBase64);
        }
    }

    /**
     * What to search: {@code k} hits from kNN over {@code vectorField}, rescored over the top
     * {@code window} by the model's ITM head ({@code window} 0: kNN only); {@code featuresField}
     * and {@code vectorField} go into the rescorer only where they differ from its defaults.
     */
    record Plan(Query query, String modelId, IndexKind documents, String vectorField, String featuresField,
                int k, int window, Integer numCandidates, String scoreMode, Float itcWeight) {

        boolean rescored() {
            return window > 0;
        }

        /** kNN returns at least the rescore window, so the rescorer sees {@code window} candidates. */
        int knnK() {
            return Math.max(k, window);
        }

        int candidates() {
            return numCandidates != null ? numCandidates : Math.min(MAX_NUM_CANDIDATES, Math.max(64, 4 * knnK()));
        }

        /** This plan for another query of the same modality (one plan serves every query of a {@code --queries} file). */
        Plan withQuery(Query other) {
            if (other.isText() != query.isText()) {
                throw new IllegalArgumentException("a plan for a " + (query.isText() ? "text" : "image") + " query cannot take a "
                    + (other.isText() ? "text" : "image") + " query");
            }
            return new Plan(other, modelId, documents, vectorField, featuresField, k, window, numCandidates, scoreMode, itcWeight);
        }
    }

    static ObjectNode body(Plan plan) {
        ObjectNode body = EsHttp.JSON.createObjectNode();
        body.put("size", plan.k());
        ObjectNode knn = body.putObject("knn");
        knn.put("field", plan.vectorField()).put("k", plan.knnK()).put("num_candidates", plan.candidates());
        plan.query().put(knn.putObject("query_vector_builder")
            .putObject(plan.query().isText() ? "fuserank_text" : "fuserank_image")
            .put("model_id", plan.modelId()));
        if (plan.rescored()) {
            ObjectNode rescore = body.putObject("rescore");
            rescore.put("window_size", plan.window());
            ObjectNode itm = plan.query().put(rescore.putObject("fuserank_itm").put("model_id", plan.modelId()));
            if (plan.scoreMode() != null) {
                itm.put("score_mode", plan.scoreMode());
            }
            if (plan.itcWeight() != null) {
                itm.put("itc_weight", plan.itcWeight());
            }
            IndexKind defaults = plan.query().rescorable();
            if (plan.featuresField().equals(defaults.featuresField()) == false) {
                itm.put("features_field", plan.featuresField());
            }
            if (plan.vectorField().equals(defaults.vectorField()) == false) {
                itm.put("vector_field", plan.vectorField());
            }
        }
        excludeImageBytes(body, plan);
        return body;
    }

    /**
     * The body of {@code --client-side}'s search: kNN with the {@code vector} encoded here and, when
     * the plan reranks, the window's stored token features ({@code docvalue_fields}) and vectors
     * ({@code fields}) for {@link ClientSideRerank}.
     */
    static ObjectNode clientSideBody(Plan plan, float[] vector) {
        ObjectNode body = EsHttp.JSON.createObjectNode();
        body.put("size", plan.knnK());
        ObjectNode knn = body.putObject("knn");
        knn.put("field", plan.vectorField()).put("k", plan.knnK()).put("num_candidates", plan.candidates());
        ArrayNode values = knn.putArray("query_vector");
        for (float v : vector) {
            values.add(v);
        }
        if (plan.rescored()) {
            body.putArray("docvalue_fields").add(plan.featuresField());
            body.putArray("fields").add(plan.vectorField());
        }
        excludeImageBytes(body, plan);
        return body;
    }

    /** The base64 image is the bulk of an image document's {@code _source}; captions stay (they are the answer). */
    private static void excludeImageBytes(ObjectNode body, Plan plan) {
        if (plan.documents() == IndexKind.IMAGE) {
            body.putObject("_source").putArray("excludes").add(IndexKind.IMAGE.sourceField());
        }
    }

    /**
     * One hit: its rank from 1, index, id, final score, and the ITM and ITC parts (null where the
     * response has none). Scores are floats, as Elasticsearch computes and prints them, so both
     * search paths print the same digits for the same score.
     */
    record Hit(int rank, String index, String id, float score, Float itm, Float itc, JsonNode source) {

        ObjectNode toJson() {
            ObjectNode node = EsHttp.JSON.createObjectNode();
            node.put("rank", rank).put("_index", index).put("_id", id).put("score", score);
            if (itm == null) {
                node.putNull("itm");
            } else {
                node.put("itm", itm);
            }
            if (itc == null) {
                node.putNull("itc");
            } else {
                node.put("itc", itc);
            }
            if (source != null && source.isMissingNode() == false) {
                node.set("_source", source);
            }
            return node;
        }
    }

    /** The hits of a search response, in order, with the ITM and ITC parts read from each hit's {@code _explanation} where it has one. */
    static List<Hit> hits(JsonNode response) {
        List<Hit> hits = new ArrayList<>();
        int rank = 1;
        for (JsonNode hit : response.path("hits").path("hits")) {
            JsonNode explanation = hit.path("_explanation");
            hits.add(new Hit(rank++, hit.path("_index").asText(), hit.path("_id").asText(), hit.path("_score").floatValue(),
                part(explanation, ScorePart.ITM), part(explanation, ScorePart.ITC), hit.path("_source")));
        }
        return hits;
    }

    /**
     * The value of the explanation node (depth first) that holds {@code part}: the {@code fuserank_itm}
     * rescorer's explanation marks each part by its key ({@link ScorePart#describes}, docs/scores.md).
     */
    static Float part(JsonNode explanation, ScorePart part) {
        if (explanation == null || explanation.isObject() == false) {
            return null;
        }
        if (part.describes(explanation.path("description").asText("")) && explanation.path("value").isNumber()) {
            return explanation.path("value").floatValue();
        }
        for (JsonNode detail : explanation.path("details")) {
            Float value = part(detail, part);
            if (value != null) {
                return value;
            }
        }
        return null;
    }
}
