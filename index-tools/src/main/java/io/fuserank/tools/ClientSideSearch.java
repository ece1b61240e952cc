package io.fuserank.tools;

import ai.onnxruntime.OrtException;
import com.fasterxml.jackson.databind.JsonNode;
import io.fuserank.encoder.Encoding;
import io.fuserank.encoder.ImageEncoder;
import io.fuserank.encoder.ImagePreprocessor;
import io.fuserank.encoder.InferenceOptions;
import io.fuserank.encoder.ModelBundle;
import io.fuserank.encoder.TextEncoder;
import io.fuserank.encoder.TextTokenizer;
import io.fuserank.reranker.FusionScorer;
import io.fuserank.reranker.RerankDefaults;
import io.fuserank.reranker.ScoreFormula;
import io.fuserank.reranker.ScoreMode;

import java.io.IOException;
import java.util.Base64;
import java.util.List;
import java.util.function.Consumer;

/**
 * {@code fuserank search --client-side}: kNN with a query vector encoded here, the window's stored
 * features and vectors fetched from doc values and fields, and the rerank done by the local fusion
 * encoder ({@link ClientSideRerank}). The encoders and the fusion scorer are opened on first use and
 * kept, so a batch of queries ({@code --queries}) loads each ONNX session once.
 */
final class ClientSideSearch implements AutoCloseable {

    /** The hits as printed, and the kNN response they came from (for its took and totals). */
    record Result(List<SearchRequests.Hit> hits, JsonNode response) {
    }

    private final ModelBundle bundle;
    /** The model's recommended score mode and ITC weight, read once: every query of a --queries run uses them. */
    private final RerankDefaults rerankDefaults;
    private final InferenceOptions options;
    private TextEncoder textEncoder;
    private ImageEncoder imageEncoder;
    private FusionScorer scorer;

    ClientSideSearch(ModelBundle bundle, InferenceOptions options) {
        this.bundle = bundle;
        this.rerankDefaults = RerankDefaults.of(bundle);
        this.options = options;
    }

    /**
     * The plan's query against {@code index}; each hit of the window that keeps its first-stage
     * score is reported to {@code unscored} ({@code _id: reason}). An image the encoder refuses is an
     * {@link io.fuserank.encoder.ImageDecodeException}.
     */
    Result search(EsHttp es, String index, SearchRequests.Plan plan, Consumer<String> unscored) throws IOException, OrtException {
        Encoding query = encode(plan.query());
        JsonNode response = es.send("POST", "/" + EsHttp.segment(index) + "/_search", SearchRequests.clientSideBody(plan, query.embedding()));
        if (plan.rescored() == false) {
            List<SearchRequests.Hit> first = SearchRequests.hits(response);
            return new Result(first.subList(0, Math.min(plan.k(), first.size())), response);
        }
        // query_weight and rescore_query_weight: the rescorer's defaults, which the plan never overrides
        ScoreFormula formula = rerankDefaults.formula(plan.scoreMode() == null ? null : ScoreMode.fromLabel(plan.scoreMode()),
            plan.itcWeight(), 1f, 1f);
        if (scorer == null) {
            scorer = new FusionScorer(bundle, options, SearchCommand.FUSION_BATCH);
        }
        ClientSideRerank.Result result = ClientSideRerank.rerank(scorer, formula, plan, query, response);
        result.unscored().forEach(unscored);
        return new Result(result.hits(), response);
    }

    private Encoding encode(SearchRequests.Query query) throws IOException, OrtException {
        if (query.isText()) {
            if (textEncoder == null) {
                textEncoder = new TextEncoder(bundle, TextTokenizer.forBundle(bundle), options);
            }
            return textEncoder.encode(query.text());
        }
        if (imageEncoder == null) {
            imageEncoder = new ImageEncoder(bundle,
                ImagePreprocessor.fromManifest(bundle.manifest().get("image"), ImagePreprocessor.Limits.DEFAULT), options);
        }
        return imageEncoder.encode(List.of(Base64.getDecoder().decode(query.imageBase64()))).get(0);
    }

    @Override
    public void close() throws OrtException {
        // try-with-resources closes whichever were opened (null ones are skipped), the scorer first
        try (TextEncoder text = textEncoder; ImageEncoder image = imageEncoder; FusionScorer fusion = scorer) {
            textEncoder = null;
            imageEncoder = null;
            scorer = null;
        }
    }
}
