package io.fuserank.plugin.query;

import io.fuserank.plugin.action.EncodeAction;
import io.fuserank.plugin.action.EncodeRequest;
import io.fuserank.plugin.action.EncodeResponse;
import io.fuserank.plugin.action.InternalEncodeClient;
import org.elasticsearch.action.ActionListener;
import org.elasticsearch.client.internal.Client;

import java.util.List;

/**
 * Encodes one query (a text or an image) through {@link EncodeAction}, so that the model runs on
 * the coordinating node's inference pool whichever thread asks, on behalf of the search that asks
 * ({@link InternalEncodeClient}). Shared by the query vector
 * builders and the ITM rescorer's coordinator rewrite.
 */
public final class QueryEncoder {

    private QueryEncoder() {
    }

    /**
     * Answers the model's response, whose one result is the input's encoding (the response also carries
     * the model's defaults), or fails the listener: an input the model rejects (an empty or
     * over-long text, an undecodable image) fails with an {@link IllegalArgumentException} naming
     * {@code option} (the request option the input came from, e.g. {@code [fuserank_text] [text]})
     * and carrying the model's reason, so the search answers 400; an image the memory breaker
     * refuses fails with its {@code CircuitBreakingException} (429), and infrastructure failures
     * pass through as they are.
     */
    public static void encode(Client client, String modelId, EncodeRequest.Input input, String option,
                              ActionListener<EncodeResponse> listener) {
        InternalEncodeClient.execute(client, new EncodeRequest(modelId, List.of(input)), listener.delegateFailureAndWrap((l, response) -> {
            if (response.results().size() != 1) {
                throw new IllegalStateException("model [" + modelId + "] answered [" + response.results().size()
                    + "] results for one query input");
            }
            EncodeResponse.Result result = response.results().get(0);
            if (result.failed()) {
                throw result.failure(option + " cannot be encoded by model [" + modelId + "]");
            }
            l.onResponse(response);
        }));
    }
}
