package io.fuserank.plugin.model;

import io.fuserank.encoder.ModelBundle;
import io.fuserank.encoder.Precision;
import io.fuserank.reranker.RerankDefaults;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Collectors;

/**
 * What {@code GET _fuserank/models} shows of one node's registry: where it looks (by the roots'
 * shown names), every model it can serve, and for each loaded one a manifest summary and the
 * counters of its calls. Plain maps and lists of strings and numbers, so that a node's answer
 * crosses the wire as a generic map.
 */
public final class ModelListing {

    private ModelListing() {
    }

    public static Map<String, Object> describe(ModelRegistry registry) {
        Map<String, LoadedModel> loaded = registry.loaded().stream().collect(Collectors.toMap(LoadedModel::id, Function.identity()));
        Map<String, Object> models = new LinkedHashMap<>();
        for (String id : registry.available()) {
            Map<String, Object> model = new LinkedHashMap<>();
            LoadedModel loadedModel = loaded.get(id);
            model.put("loaded", loadedModel != null);
            if (loadedModel != null) {
                ModelRoot root = registry.rootOf(id);
                model.put("manifest", manifest(loadedModel.bundle(), root == null ? id : root.shown(id)));
                model.put("precision", loadedModel.precision().label());
                model.put("stats", stats(loadedModel.stats()));
            }
            models.put(id, model);
        }
        Map<String, Object> node = new LinkedHashMap<>();
        node.put("models_paths", registry.roots().stream().map(ModelRoot::shown).toList());
        node.put("models", models);
        return node;
    }

    private static Map<String, Object> manifest(ModelBundle bundle, String shownPath) {
        Map<String, Object> manifest = new LinkedHashMap<>();
        manifest.put("name", bundle.name());
        manifest.put("path", shownPath);
        // null for a model without ITC, which only reranks
        manifest.put("embedding_dim", bundle.hasEmbedding() ? bundle.embeddingDim() : null);
        manifest.put("similarity", bundle.hasEmbedding() ? bundle.similarity() : null);
        manifest.put("feature_width", bundle.featureWidth());
        manifest.put("feature_layers", bundle.featureLayers());
        manifest.put("image_tokens", bundle.imageTokens());
        manifest.put("codec", bundle.codec());
        manifest.put("precisions", bundle.precisions().stream().map(Precision::label).toList());
        manifest.put("default_precision", bundle.defaultPrecision().label());
        manifest.put("max_text_tokens", bundle.maxTextTokens());
        manifest.put("image_size", bundle.imageSize());
        manifest.put("fusion_flops_per_pair", bundle.fusionFlopsPerPair());
        manifest.put("score_mode", scoreMode(bundle));
        manifest.put("itc_weight", bundle.itcWeight());
        return manifest;
    }

    /** The score mode the manifest recommends, or its unknown value as written (loading the model then fails, saying why). */
    private static String scoreMode(ModelBundle bundle) {
        try {
            return RerankDefaults.of(bundle).mode().label();
        } catch (IllegalArgumentException e) {
            return bundle.manifest().path("rerank").path("score_mode").asText();
        }
    }

    private static Map<String, Object> stats(ModelStats stats) {
        double[] latency = stats.latencyPercentilesMillis();
        Map<String, Object> percentiles = new LinkedHashMap<>();
        percentiles.put("p50", latency[0]);
        percentiles.put("p95", latency[1]);
        percentiles.put("p99", latency[2]);
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("calls", stats.calls());
        out.put("failures", stats.failures());
        out.put("rejections", stats.rejections());
        out.put("latency_ms", percentiles);
        return out;
    }
}
