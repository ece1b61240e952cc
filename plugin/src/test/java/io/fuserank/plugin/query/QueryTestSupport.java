package io.fuserank.plugin.query;

import io.fuserank.encoder.DocumentStorage;
import io.fuserank.encoder.FeatureCodec;
import io.fuserank.encoder.FusionDeclaration.Modality;
import io.fuserank.encoder.FusionDeclaration.Quantity;
import io.fuserank.plugin.action.EncodeRequest;
import io.fuserank.plugin.action.EncodeResponse;
import io.fuserank.reranker.RerankDefaults;
import io.fuserank.reranker.ScoreMode;
import org.elasticsearch.action.ActionListener;
import org.elasticsearch.action.ActionRequest;
import org.elasticsearch.action.ActionResponse;
import org.elasticsearch.action.ActionType;
import org.elasticsearch.action.support.PlainActionFuture;
import org.elasticsearch.client.internal.Client;
import org.elasticsearch.test.client.NoOpClient;
import org.elasticsearch.threadpool.TestThreadPool;
import org.elasticsearch.threadpool.ThreadPool;

import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.BiConsumer;
import java.util.function.Consumer;
import java.util.function.Function;

import static org.elasticsearch.test.ESTestCase.expectThrows;
import static org.elasticsearch.test.ESTestCase.randomAlphaOfLengthBetween;
import static org.elasticsearch.test.ESTestCase.randomFrom;

/** Test helpers: random model ids and a client whose encode action the test answers. */
public final class QueryTestSupport {

    private QueryTestSupport() {
    }

    /** What our own models' documents store: token features in both kinds, {@code codec} by default. */
    public static DocumentStorage featuresStored(FeatureCodec codec) {
        return new DocumentStorage(Map.of(Modality.TEXT, Optional.of(Quantity.TOKEN_FEATURES), Modality.IMAGE, Optional.of(Quantity.TOKEN_FEATURES)),
            codec, null);
    }

    /** A model's rerank defaults with {@code itm_plus_itc}, our own models' mode, at ITC weight {@code itcWeight}. */
    public static RerankDefaults rerank(float itcWeight) {
        return new RerankDefaults(ScoreMode.ITM_PLUS_ITC, itcWeight, true);
    }

    public static String randomModelId() {
        return randomFrom("fuserank-small", "m", "albef.base_2") + randomAlphaOfLengthBetween(0, 4).toLowerCase(Locale.ROOT);
    }

    /** Runs {@code body} with a client that answers every encode request with {@code answer}. */
    public static void withClient(String name, Function<EncodeRequest, EncodeResponse> answer, Consumer<Client> body) {
        ThreadPool threadPool = new TestThreadPool(name);
        try {
            body.accept(new NoOpClient(threadPool) {
                @Override
                @SuppressWarnings("unchecked")
                protected <Request extends ActionRequest, Response extends ActionResponse> void doExecute(
                    ActionType<Response> action, Request request, ActionListener<Response> listener) {
                    listener.onResponse((Response) answer.apply((EncodeRequest) request));
                }
            });
        } finally {
            ThreadPool.terminate(threadPool, 10, TimeUnit.SECONDS);
        }
    }

    /** The failure of a query vector builder whose encode request the model answers with {@code error}. */
    public static ExecutionException buildVectorFailure(String name, BiConsumer<Client, ActionListener<float[]>> buildVector, String error) {
        PlainActionFuture<float[]> future = new PlainActionFuture<>();
        withClient(name, request -> new EncodeResponse(List.of(EncodeResponse.Result.invalid(error)), QueryTestSupport.featuresStored(FeatureCodec.INT8), QueryTestSupport.rerank(1f)), client -> buildVector.accept(client, future));
        return expectThrows(ExecutionException.class, future::get);
    }
}
