package io.fuserank.plugin.rescore;

import io.fuserank.encoder.Encoding;
import io.fuserank.plugin.FuseRankSettings;
import io.fuserank.plugin.FuseRankSingleNodeTestCase;
import io.fuserank.plugin.model.InlineInference;
import io.fuserank.plugin.model.LoadedModel;
import io.fuserank.plugin.model.ModelRegistry;
import io.fuserank.reranker.CandidateScores;
import org.elasticsearch.ExceptionsHelper;
import org.elasticsearch.action.bulk.BulkRequestBuilder;
import org.elasticsearch.action.index.IndexRequest;
import org.elasticsearch.action.search.SearchPhaseExecutionException;
import org.elasticsearch.action.search.SearchRequest;
import org.elasticsearch.action.support.WriteRequest;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.rest.RestStatus;
import org.elasticsearch.search.builder.SearchSourceBuilder;
import org.elasticsearch.xcontent.NamedXContentRegistry;
import org.elasticsearch.xcontent.XContentParser;
import org.elasticsearch.xcontent.XContentParserConfiguration;
import org.elasticsearch.xcontent.json.JsonXContent;

import java.io.IOException;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.FutureTask;

import static org.elasticsearch.test.hamcrest.ElasticsearchAssertions.assertResponse;
import static org.hamcrest.Matchers.containsString;

/**
 * {@link FuseRankSettings#MAX_CONCURRENT_RESCORES} bounds the fusion calls running on the node's
 * search threads: with a bound of one, no queue, and one fusion call held inside the bound (its
 * cancellation check waits on a latch), a rescoring search fails at once with 429 naming the
 * setting, and once the held call ends both it and the next search finish normally.
 */
public class RescoreConcurrencyLimitTests extends FuseRankSingleNodeTestCase {

    private static final String IMAGES = "images";

    @Override
    protected Settings suiteSettings() {
        return Settings.builder().put(FuseRankSettings.MAX_CONCURRENT_RESCORES.getKey(), 1)
            .put(FuseRankSettings.RESCORE_QUEUE_SIZE.getKey(), 0).build();
    }

    public void testARescoreBeyondTheBoundIsRejectedWith429UntilTheHeldCallEnds() throws Exception {
        ReferenceData data = ReferenceData.load();
        indexImages(data);
        assertTopHit(data, 0);
        LoadedModel model = getInstanceFromNode(ModelRegistry.class).get(ReferenceData.MODEL_ID);
        Encoding query = model.texts().encode(List.of(data.captions().get(1))).get(0);
        FusionCall held = new FusionCall(getInstanceFromNode(InlineInference.class), ReferenceData.MODEL_ID, query, true);
        CountDownLatch inside = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        FutureTask<CandidateScores> heldScores = new FutureTask<>(() -> held.score(data.imageBlobs(), () -> {
            inside.countDown();
            safeAwait(release);
        }));
        Thread holder = new Thread(heldScores, "held-fusion-call");
        holder.start();
        safeAwait(inside);

        SearchPhaseExecutionException e = expectThrows(SearchPhaseExecutionException.class,
            () -> client().search(rescoringSearch(data, 2)).actionGet());
        assertEquals(RestStatus.TOO_MANY_REQUESTS, ExceptionsHelper.status(e));
        assertThat(e.shardFailures()[0].reason(), containsString("[fuserank.rescore.max_concurrent]"));
        assertEquals(1, model.stats().rejections());

        release.countDown();
        float[] scores = heldScores.get().orThrow();
        holder.join();
        assertEquals(data.imageBlobs().size(), scores.length);
        assertArrayEquals("the same logits as the scorer's own", model.scorer().scoreImages(query, data.imageBlobs()), scores, 0f);
        assertTopHit(data, 2);
        assertEquals(1, model.stats().rejections());
    }

    private void indexImages(ReferenceData data) throws Exception {
        indicesAdmin().prepareCreate(IMAGES)
            .setSettings(Settings.builder().put("index.number_of_shards", 1).put("index.number_of_replicas", 0))
            .setMapping(Map.of("properties", Map.of(
                "image_vector", Map.of("type", "dense_vector", "dims", 128, "similarity", "dot_product"),
                "image_features", Map.of("type", "binary", "doc_values", true))))
            .get();
        BulkRequestBuilder bulk = client().prepareBulk().setRefreshPolicy(WriteRequest.RefreshPolicy.IMMEDIATE);
        for (int i = 0; i < data.images().size(); i++) {
            bulk.add(new IndexRequest(IMAGES).id("image-" + i).source(Map.of("image_vector", data.imageVectors().get(i),
                "image_features", Base64.getEncoder().encodeToString(data.imageBlobs().get(i)))));
        }
        assertFalse(bulk.get().hasFailures());
    }

    private void assertTopHit(ReferenceData data, int caption) throws Exception {
        assertResponse(client().search(rescoringSearch(data, caption)),
            response -> assertEquals("image-" + caption, response.getHits().getAt(0).getId()));
    }

    /** The documented text-to-image request: knn with the text's query vector, then the ITM rescore of its top 5. */
    private SearchRequest rescoringSearch(ReferenceData data, int caption) throws IOException {
        String text = "\"" + data.captions().get(caption).replace("\"", "\\\"") + "\"";
        String json = String.format(Locale.ROOT, """
            {"size": 5,
             "knn": {"field": "image_vector", "k": 5, "num_candidates": 10,
               "query_vector_builder": {"fuserank_text": {"model_id": "fuserank-small", "text": %s}}},
             "rescore": {"window_size": 5, "fuserank_itm": {"model_id": "fuserank-small", "text": %s}}}""", text, text);
        XContentParserConfiguration config = XContentParserConfiguration.EMPTY.withRegistry(getInstanceFromNode(NamedXContentRegistry.class));
        try (XContentParser parser = JsonXContent.jsonXContent.createParser(config, json)) {
            return new SearchRequest(IMAGES).source(new SearchSourceBuilder().parseXContent(parser, true, feature -> true));
        }
    }
}
