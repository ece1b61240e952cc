package io.fuserank.plugin.model;

import ai.onnxruntime.OrtException;
import io.fuserank.encoder.DocumentStorage;
import io.fuserank.encoder.ImageEncoder;
import io.fuserank.encoder.ImagePreprocessor;
import io.fuserank.encoder.InferenceOptions;
import io.fuserank.encoder.MemoryBudget;
import io.fuserank.encoder.ModelBundle;
import io.fuserank.encoder.Precision;
import io.fuserank.encoder.TextEncoder;
import io.fuserank.encoder.TextTokenizer;
import io.fuserank.reranker.FusionScorer;
import io.fuserank.reranker.RerankDefaults;

import java.io.Closeable;
import java.io.IOException;

/**
 * One model bundle with its ONNX sessions open: the image and text encoders and the fusion
 * scorer, shared by every inference thread of the node, plus its call counters.
 */
public final class LoadedModel implements Closeable {

    private final String id;
    private final ModelBundle bundle;
    private final ImageEncoder images;
    private final TextTokenizer tokenizer;
    private final TextEncoder texts;
    private final FusionScorer scorer;
    private final DocumentStorage documentStorage;
    private final RerankDefaults rerankDefaults;
    private final ModelStats stats = new ModelStats();
    private final Precision precision;

    /** @param decodingBudget what decoding an image reserves its memory from */
    LoadedModel(String id, ModelBundle bundle, InferenceOptions options, int fusionBatch, MemoryBudget decodingBudget) throws OrtException {
        this.id = id;
        this.bundle = bundle;
        // Manifest checks first: nothing to close yet if they fail.
        this.documentStorage = DocumentStorage.of(bundle);
        this.rerankDefaults = RerankDefaults.of(bundle);
        this.precision = options.precisionFor(bundle);
        bundle.requirePrecision(precision);
        ImagePreprocessor preprocessor = ImagePreprocessor.fromManifest(bundle.manifest().get("image"), ImagePreprocessor.Limits.DEFAULT)
            .withBudget(decodingBudget);
        this.tokenizer = TextTokenizer.forBundle(bundle);
        this.images = new ImageEncoder(bundle, preprocessor, options);
        this.texts = new TextEncoder(bundle, tokenizer, options);
        this.scorer = new FusionScorer(bundle, options, fusionBatch);
    }

    public String id() {
        return id;
    }

    public ModelBundle bundle() {
        return bundle;
    }

    /** The precision of the graphs this node runs the model in ({@code fuserank.inference.precision}, else the manifest's). */
    public Precision precision() {
        return precision;
    }

    public ImageEncoder images() {
        return images;
    }

    public TextEncoder texts() {
        return texts;
    }

    public FusionScorer scorer() {
        return scorer;
    }

    public ModelStats stats() {
        return stats;
    }

    /** What the model's documents store for its fusion graph, and the codec the manifest asks for. */
    public DocumentStorage documentStorage() {
        return documentStorage;
    }

    /** The score mode and ITC weight of the reranked score that the manifest recommends. */
    public RerankDefaults rerankDefaults() {
        return rerankDefaults;
    }

    @Override
    public void close() throws IOException {
        try {
            images.close();
            texts.close();
            scorer.close();
        } catch (OrtException e) {
            throw new IOException("cannot close the sessions of model [" + id + "]", e);
        } finally {
            tokenizer.close();
        }
    }
}
