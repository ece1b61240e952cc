package io.fuserank.benchmarks;

import ai.onnxruntime.OrtException;
import io.fuserank.encoder.FeatureCodec;
import io.fuserank.encoder.ImageEncoder;
import io.fuserank.encoder.InferenceOptions;
import io.fuserank.encoder.ModelBundle;
import io.fuserank.encoder.TextEncoder;
import io.fuserank.encoder.TextTokenizer;
import io.fuserank.encoder.TokenFeatures;
import io.fuserank.reranker.FusionScorer;

import java.io.IOException;
import java.util.List;

/**
 * A rerank as the plugin runs it: a {@link FusionScorer}, one text query's token features and
 * image candidates' stored blobs in one codec, all made by the bundle's own encoders from its
 * reference data. The encoders are closed once the inputs exist; only the scorer stays open.
 */
final class FusionFixture implements AutoCloseable {

    /** The largest window benchmarked: one batch, never split into chunks. */
    static final int MAX_K = 128;

    private final FusionScorer scorer;
    private final TokenFeatures query;
    private final List<byte[]> blobs;

    private FusionFixture(FusionScorer scorer, TokenFeatures query, List<byte[]> blobs) {
        this.scorer = scorer;
        this.query = query;
        this.blobs = blobs;
    }

    /** Opens the scorer with {@code threads} intra-op threads; blobs in {@code codec} ({@code fp32}, {@code fp16}, {@code int8}). */
    static FusionFixture open(int threads, String codec) throws IOException, OrtException {
        ModelBundle bundle = BenchmarkInputs.loadBundle();
        InferenceOptions options = BenchmarkInputs.cpu(threads);
        TokenFeatures query;
        try (TextTokenizer tokenizer = TextTokenizer.forBundle(bundle);
             TextEncoder text = new TextEncoder(bundle, tokenizer, options)) {
            query = text.encode(BenchmarkInputs.fullLengthQuery(tokenizer)).tokenFeatures();
        }
        FeatureCodec featureCodec = FeatureCodec.fromLabel(codec);
        List<byte[]> blobs;
        try (ImageEncoder images = new ImageEncoder(bundle, BenchmarkInputs.preprocessor(bundle), options)) {
            blobs = images.encode(BenchmarkInputs.referenceImages(bundle)).stream()
                .map(e -> featureCodec.encode(e.tokenFeatures()))
                .toList();
        }
        return new FusionFixture(new FusionScorer(bundle, options, MAX_K), query, blobs);
    }

    FusionScorer scorer() {
        return scorer;
    }

    TokenFeatures query() {
        return query;
    }

    /** {@code k} candidate blobs, the reference images' cycled. */
    List<byte[]> window(int k) {
        if (k < 1 || k > MAX_K) {
            throw new IllegalArgumentException("window size must be in [1, " + MAX_K + "], got [" + k + "]");
        }
        return BenchmarkInputs.repeat(blobs, k);
    }

    @Override
    public void close() throws OrtException {
        scorer.close();
    }
}
