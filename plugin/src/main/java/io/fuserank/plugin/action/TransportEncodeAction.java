package io.fuserank.plugin.action;

import io.fuserank.encoder.Encoding;
import io.fuserank.encoder.ImageDecodeException;
import io.fuserank.encoder.ImageEncoder;
import io.fuserank.encoder.TextEncoder;
import io.fuserank.plugin.model.InferenceService;
import io.fuserank.plugin.model.LoadedModel;
import org.elasticsearch.action.ActionListener;
import org.elasticsearch.action.support.ActionFilters;
import org.elasticsearch.action.support.TransportAction;
import org.elasticsearch.common.util.concurrent.EsExecutors;
import org.elasticsearch.injection.guice.Inject;
import org.elasticsearch.tasks.Task;
import org.elasticsearch.transport.TransportService;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Runs an {@link EncodeRequest} on this node's inference pool: all valid texts in one text-encoder
 * call, all decodable images in one image-encoder call, each invalid input answered with its own
 * reason, and each image the memory breaker refuses with the breaker's exception (429, not 400).
 * Local-only (no transport handler): every caller runs on the node that encodes.
 */
public final class TransportEncodeAction extends TransportAction<EncodeRequest, EncodeResponse> {

    private final InferenceService inference;
    private final QueryEncodingCache cache;

    @Inject
    public TransportEncodeAction(TransportService transportService, ActionFilters actionFilters, InferenceService inference,
                                 QueryEncodingCache cache) {
        super(EncodeAction.NAME, actionFilters, transportService.getTaskManager(), EsExecutors.DIRECT_EXECUTOR_SERVICE);
        this.inference = inference;
        this.cache = cache;
    }

    @Override
    protected void doExecute(Task task, EncodeRequest request, ActionListener<EncodeResponse> listener) {
        QueryEncodingCache.Key key = QueryEncodingCache.keyOf(request);
        if (key == null) {
            run(request, listener);
        } else {
            cache.getOrEncode(key, l -> run(request, l), listener);
        }
    }

    private void run(EncodeRequest request, ActionListener<EncodeResponse> listener) {
        inference.run(request.modelId(), model -> new EncodeResponse(encode(model, request.inputs()), model.documentStorage(), model.rerankDefaults()),
            listener);
    }

    static List<EncodeResponse.Result> encode(LoadedModel model, List<EncodeRequest.Input> inputs) throws Exception {
        EncodeResponse.Result[] results = new EncodeResponse.Result[inputs.size()];
        List<Integer> textRows = new ArrayList<>();
        List<String> texts = new ArrayList<>();
        List<Integer> imageRows = new ArrayList<>();
        List<byte[]> images = new ArrayList<>();
        for (int i = 0; i < inputs.size(); i++) {
            EncodeRequest.Input input = inputs.get(i);
            if (input.isText()) {
                textRows.add(i);
                texts.add(input.text());
            } else {
                imageRows.add(i);
                images.add(input.image());
            }
        }
        // Each input is checked on its own, so a bad one fails alone; the good ones go through one call per modality.
        if (texts.isEmpty() == false) {
            List<TextEncoder.Outcome> encoded = model.texts().encodeEach(texts);
            for (int j = 0; j < textRows.size(); j++) {
                TextEncoder.Outcome outcome = encoded.get(j);
                results[textRows.get(j)] = outcome.failed()
                    ? EncodeResponse.Result.invalid(outcome.error().getMessage()) : ok(outcome.encoding());
            }
        }
        if (images.isEmpty() == false) {
            List<ImageEncoder.Outcome> encoded = model.images().encodeEach(images);
            for (int j = 0; j < imageRows.size(); j++) {
                ImageEncoder.Outcome outcome = encoded.get(j);
                results[imageRows.get(j)] = outcome.failed() ? failed(outcome.error()) : ok(outcome.encoding());
            }
        }
        return Arrays.asList(results);
    }

    /**
     * A refused memory reservation fails with the breaker's own exception (a
     * {@code CircuitBreakingException}: 429, worth retrying); any other decoding error is the image's fault (400).
     */
    static EncodeResponse.Result failed(ImageDecodeException e) {
        if (e.reason() == ImageDecodeException.Reason.OVER_MEMORY_BUDGET && e.getCause() instanceof Exception refusal) {
            return EncodeResponse.Result.failed(refusal);
        }
        return EncodeResponse.Result.invalid(e.getMessage());
    }

    private static EncodeResponse.Result ok(Encoding e) {
        return EncodeResponse.Result.ok(e);
    }
}
