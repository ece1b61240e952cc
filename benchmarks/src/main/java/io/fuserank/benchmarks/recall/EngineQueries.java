package io.fuserank.benchmarks.recall;

import ai.onnxruntime.OrtException;
import com.fasterxml.jackson.databind.JsonNode;
import io.fuserank.benchmarks.EsJson;
import io.fuserank.encoder.Encoding;

import java.io.IOException;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * One query of each kind against the benchmark's indices, answered as the split's image or caption
 * numbers in rank order. Hits are mapped back through the fields the CLI writes ({@code path} on
 * image documents; {@code image_path} and {@code caption_index} on caption documents), never
 * through document ids, so the harness does not depend on the CLI's id scheme.
 */
final class EngineQueries {

    private final EsJson engine;
    private final InProcessModel model;
    private final String modelId;
    private final EvalSplit split;
    private final String imageIndex;
    private final String captionIndex;
    private final Float itcWeight;
    private final Map<String, Integer> imageByPath = new HashMap<>();

    EngineQueries(EsJson engine, InProcessModel model, String modelId, EvalSplit split, String imageIndex, String captionIndex,
                  Float itcWeight) {
        this.itcWeight = itcWeight;
        this.engine = engine;
        this.model = model;
        this.modelId = modelId;
        this.split = split;
        this.imageIndex = imageIndex;
        this.captionIndex = captionIndex;
        for (int i = 0; i < split.imagePaths().size(); i++) {
            imageByPath.put(split.imagePaths().get(i), i);
        }
    }

    /** Caption {@code caption} as a text → image query through the plugin (knn, and the rescore for the rerank modes). */
    int[] textToImage(int caption, Mode.Setting setting) throws IOException {
        JsonNode hits = search(imageIndex, SearchBodies.textToImage(modelId, split.captions().get(caption), setting, itcWeight)).path("hits").path("hits");
        int[] ranked = new int[hits.size()];
        for (int i = 0; i < ranked.length; i++) {
            ranked[i] = image(hits.get(i).path("_source").path("path").asText());
        }
        return ranked;
    }

    /** Image {@code image} as an image → text query through the plugin, against the caption index. */
    int[] imageToText(int image, Mode.Setting setting) throws IOException {
        String base64 = Base64.getEncoder().encodeToString(Files.readAllBytes(split.imageFile(image)));
        JsonNode hits = search(captionIndex, SearchBodies.imageToText(modelId, base64, setting, itcWeight)).path("hits").path("hits");
        int[] ranked = new int[hits.size()];
        for (int i = 0; i < ranked.length; i++) {
            JsonNode source = hits.get(i).path("_source");
            int owner = image(source.path("image_path").asText());
            int position = source.path("caption_index").asInt(-1);
            if (position < 0 || position >= split.imageCaptions()[owner].length) {
                throw new IOException(String.format(Locale.ROOT, "caption hit [%s] has caption_index [%s]; image [%s] has %d captions",
                    hits.get(i).path("_id").asText(), source.path("caption_index"), split.imagePaths().get(owner), split.imageCaptions()[owner].length));
            }
            ranked[i] = split.imageCaptions()[owner][position];
        }
        return ranked;
    }

    /**
     * The rerank a user writes without the plugin: encode the caption here, fetch the knn top
     * {@code k} with their token-feature blobs (doc values, base64 in the response), score them
     * with the reranker library here, and sort.
     */
    int[] clientRerank(int caption, int k) throws IOException, OrtException {
        Encoding query = model.encodeText(split.captions().get(caption));
        JsonNode hits = search(imageIndex, SearchBodies.knnWithFeatures(query.embedding(), k)).path("hits").path("hits");
        List<byte[]> blobs = new ArrayList<>(hits.size());
        int[] candidates = new int[hits.size()];
        for (int i = 0; i < hits.size(); i++) {
            JsonNode hit = hits.get(i);
            candidates[i] = image(hit.path("_source").path("path").asText());
            JsonNode blob = hit.path("fields").path(SearchBodies.IMAGE_FEATURES).path(0);
            if (blob.isTextual() == false) {
                throw new IOException("hit [" + hit.path("_id").asText() + "] has no " + SearchBodies.IMAGE_FEATURES + " doc value");
            }
            blobs.add(Base64.getDecoder().decode(blob.asText()));
        }
        float[] scores = model.scorer().scoreImages(query, blobs);
        Integer[] order = new Integer[candidates.length];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        java.util.Arrays.sort(order, (a, b) -> Float.compare(scores[b], scores[a]));
        int[] ranked = new int[Math.min(SearchBodies.SIZE, order.length)];
        for (int i = 0; i < ranked.length; i++) {
            ranked[i] = candidates[order[i]];
        }
        return ranked;
    }

    private JsonNode search(String index, JsonNode body) throws IOException {
        return engine.send("POST", "/" + index + "/_search", body.toString());
    }

    private int image(String path) throws IOException {
        Integer image = imageByPath.get(path);
        if (image == null) {
            throw new IOException("a hit names image [" + path + "], which is not in the split: is the index from another run?");
        }
        return image;
    }
}
