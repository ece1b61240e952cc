package io.fuserank.plugin.rescore;

import io.fuserank.encoder.ModelBundle;
import io.fuserank.plugin.FuseRankPlugin;
import io.fuserank.plugin.FuseRankSettings;
import io.fuserank.plugin.action.OnEncodeFilter;
import io.fuserank.plugin.action.QueryEncodingCache;
import io.fuserank.plugin.model.ModelRegistry;
import io.fuserank.reranker.ScoreFormula;
import io.fuserank.reranker.ScoreMode;
import io.fuserank.reranker.ScorePart;
import org.apache.http.util.EntityUtils;
import org.elasticsearch.action.support.ActionFilter;
import org.elasticsearch.client.Request;
import org.elasticsearch.client.Response;
import org.elasticsearch.client.ResponseException;
import org.elasticsearch.client.RestClient;
import org.elasticsearch.common.Strings;
import org.elasticsearch.common.network.NetworkModule;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.common.xcontent.XContentHelper;
import org.elasticsearch.plugins.ActionPlugin;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.plugins.PluginsService;
import org.elasticsearch.test.ESIntegTestCase;
import org.elasticsearch.test.rest.ObjectPath;
import org.elasticsearch.transport.netty4.Netty4Plugin;
import org.elasticsearch.xcontent.XContentBuilder;
import org.elasticsearch.xcontent.json.JsonXContent;
import org.junit.AfterClass;
import org.junit.Before;
import org.junit.BeforeClass;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.StreamSupport;

import static org.hamcrest.Matchers.both;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.either;
import static org.hamcrest.Matchers.greaterThan;
import static org.hamcrest.Matchers.lessThan;
import static org.hamcrest.Matchers.startsWith;

/**
 * End to end through the REST layer of a two-node cluster (indices of three shards and one replica):
 * {@code knn} with the {@code fuserank_text} / {@code fuserank_image} query vector builders, then
 * the {@code fuserank_itm} rescorer, as a top-level {@code rescore} and as the {@code rescorer}
 * retriever, text to image and image to text. The documents' vectors and int8 blobs are computed in
 * the test with the encoder library, as a bulk indexer would.
 */
@ESIntegTestCase.ClusterScope(scope = ESIntegTestCase.Scope.SUITE, numDataNodes = 2, numClientNodes = 0, supportsDedicatedMasters = false)
public class FuseRankSearchIntegTests extends ESIntegTestCase {

    private static final String IMAGES = "images";
    private static final String CAPTIONS = "captions";
    private static final String BARE = "bare";
    private static ReferenceData data;

    /** Counts this node's encode requests, so a test can tell how often a search encoded its query. */
    public static class EncodeCounter extends Plugin implements ActionPlugin {
        private final AtomicInteger encodes = new AtomicInteger();

        @Override
        public Collection<ActionFilter> getActionFilters() {
            return List.of(new OnEncodeFilter(encodes::incrementAndGet));
        }
    }

    @BeforeClass
    public static void encodeReferenceData() throws Exception {
        data = ReferenceData.load();
    }

    @AfterClass
    public static void releaseReferenceData() {
        data = null;
    }

    @Override
    protected Collection<Class<? extends Plugin>> nodePlugins() {
        return List.of(FuseRankPlugin.class, Netty4Plugin.class, EncodeCounter.class);
    }

    @Override
    protected boolean addMockHttpTransport() {
        return false;
    }

    @Override
    protected Settings nodeSettings(int nodeOrdinal, Settings otherSettings) {
        return Settings.builder()
            .put(super.nodeSettings(nodeOrdinal, otherSettings))
            .put(NetworkModule.HTTP_TYPE_KEY, Netty4Plugin.NETTY_HTTP_TRANSPORT_NAME)
            .put(FuseRankSettings.MODELS_PATH.getKey(), ReferenceData.modelsDir().toString())
            .build();
    }

    /** The cluster outlives the test, its indices do not (the framework wipes them after each test). */
    @Before
    public void createIndices() throws IOException {
        createImageIndex(IMAGES, 3);
        createCaptionIndex(CAPTIONS, 3);
    }

    public void testEachCaptionFindsItsImageFirst() throws IOException {
        for (int i = 0; i < data.captions().size(); i++) {
            ObjectPath response = search(IMAGES, textToImage(data.captions().get(i), 5, "", ""));
            assertEquals("caption [" + i + "]", "image-" + i, response.evaluate("hits.hits.0._id"));
            assertEquals(3, (int) response.evaluate("_shards.successful"));
        }
    }

    /**
     * The whole path on two nodes: the documented pipeline and mapping (3 shards, 1 replica), the
     * processor encoding on whichever node runs the pipeline, then the documented query.
     */
    public void testIngestThroughTheProcessorThenKnnAndRescore() throws IOException {
        Path examples = ReferenceData.modelsDir().getParent().resolve("example-queries");
        Request pipeline = new Request("PUT", "/_ingest/pipeline/fuserank-images");
        pipeline.setJsonEntity(Files.readString(examples.resolve("mappings").resolve("ingest-pipeline.json")));
        getRestClient().performRequest(pipeline);
        Map<String, Object> body = XContentHelper.convertToMap(JsonXContent.jsonXContent,
            Files.readString(examples.resolve("mappings").resolve("image-index.json")), false);
        body.put("settings", Map.of("number_of_shards", 3, "number_of_replicas", 1));
        Request create = new Request("PUT", "/piped");
        create.setJsonEntity(Strings.toString(JsonXContent.contentBuilder().map(body)));
        getRestClient().performRequest(create);
        ensureGreen("piped");
        StringBuilder lines = new StringBuilder();
        for (int i = 0; i < data.images().size(); i++) {
            lines.append(bulkLine("piped", "image-" + i, Map.of("image", data.images().get(i))));
        }
        Request request = new Request("POST", "/_bulk");
        request.addParameter("refresh", "true");
        request.addParameter("pipeline", "fuserank-images");
        request.setJsonEntity(lines.toString());
        ObjectPath indexed = ObjectPath.createFromResponse(getRestClient().performRequest(request));
        assertFalse(indexed.toString(), indexed.evaluate("errors"));
        String query = Files.readString(examples.resolve("search").resolve("text-to-image.json"));
        for (int i = 0; i < data.captions().size(); i++) {
            ObjectPath response = search("piped", query.replace("{{TEXT}}", data.captions().get(i)));
            assertEquals("caption [" + i + "]", "image-" + i, response.evaluate("hits.hits.0._id"));
            assertEquals(3, (int) response.evaluate("_shards.successful"));
        }
    }

    public void testTheKnnQueryForm() throws IOException {
        String caption = quote(data.captions().get(0));
        ObjectPath response = search(IMAGES, String.format(Locale.ROOT, """
            {"size": 5,
             "query": {"knn": {"field": "image_vector", "k": 5, "num_candidates": 10,
               "query_vector_builder": {"fuserank_text": {"model_id": "fuserank-small", "text": %s}}}},
             "rescore": {"window_size": 5, "fuserank_itm": {"model_id": "fuserank-small", "text": %s}}}""", caption, caption));
        assertEquals("image-0", response.evaluate("hits.hits.0._id"));
    }

    public void testADocumentWithoutFeaturesKeepsItsFirstStageScore() throws IOException {
        String caption = data.captions().get(1);
        ObjectPath knnOnly = search(IMAGES, knnOnly(caption));
        float firstStage = scoreOf(knnOnly, BARE);
        ObjectPath rescored = search(IMAGES, textToImage(caption, 5, "", ", \"explain\": true"));
        assertEquals(5, rescored.evaluateArraySize("hits.hits"));
        assertEquals(firstStage, scoreOf(rescored, BARE), 1e-6f);
        Map<String, Object> bare = hit(rescored, BARE);
        assertThat(ObjectPath.evaluate(bare, "_explanation.description"),
            containsString("did not rescore this hit (no token features in [image_features])"));
    }

    public void testAWindowAboveTheMaximumIsABadRequestNamingBothNumbers() throws IOException {
        String body = textToImage(data.captions().get(0), 300, "", "");
        ResponseException e = expectThrows(ResponseException.class, () -> search(IMAGES, body));
        assertEquals(400, e.getResponse().getStatusLine().getStatusCode());
        String error = EntityUtils.toString(e.getResponse().getEntity());
        assertThat(error, containsString("window_size [300] is above [fuserank.rescore.max_window] [256]"));
    }

    /**
     * Coordinated by one node, executed on the other's shard copies (so the rescorer and its encoded
     * query cross the wire): one encoding for three shards.
     */
    public void testTheQueryIsEncodedOncePerSearchWhateverTheShardCount() throws IOException {
        String caption = data.captions().get(2);
        String[] nodes = internalCluster().getNodeNames();
        String coordinator = randomFrom(nodes);
        String executor = Arrays.stream(nodes).filter(n -> n.equals(coordinator) == false).findFirst().orElseThrow();
        try (RestClient client = createRestClient(clusterAdmin().prepareNodesInfo(coordinator).get().getNodes(), null, "http")) {
            int before = encodes();
            Request request = new Request("POST", "/" + IMAGES + "/_search");
            request.addParameter("preference", "_only_nodes:" + executor);
            request.setJsonEntity(String.format(Locale.ROOT, """
                {"size": 5,
                 "knn": {"field": "image_vector", "k": 5, "num_candidates": 10, "query_vector": %s},
                 "rescore": {"window_size": 5, "fuserank_itm": {"model_id": "fuserank-small", "text": %s}}}""",
                json(data.textVectors().get(2)), quote(caption)));
            ObjectPath response = ObjectPath.createFromResponse(client.performRequest(request));
            assertEquals("image-2", response.evaluate("hits.hits.0._id"));
            assertEquals(3, (int) response.evaluate("_shards.successful"));
            assertEquals("one encoding for the rescorer across three shards", 1, encodes() - before);
        }
        // A text no other test searched: the knn vector builder and the rescorer each ask for it,
        // and the coordinator's cache answers the second ask, so the model runs once.
        String fresh = caption + " " + randomAlphaOfLength(8).toLowerCase(Locale.ROOT);
        int before = encodes();
        long hitsBefore = cacheHits();
        search(IMAGES, textToImage(fresh, 5, "", ""));
        assertEquals("the knn vector builder and the rescorer each ask", 2, encodes() - before);
        assertEquals("the second ask is answered from the cache", 1, cacheHits() - hitsBefore);
    }

    /**
     * Explain reuses the parts the rescore computed, over one shard and over three (a top-level knn
     * runs the fetch phase in a search context of its own): it costs no fusion call. Each hit's score is its
     * explanation's value, and the parts under their documented keys give that score back through
     * the one formula.
     */
    public void testExplainRunsNoFusionCallAndShowsTheRescoresParts() throws IOException {
        createImageIndex("one-shard", 1);
        String caption = data.captions().get(3);
        assertEquals("one shard", 0, explainCalls("one-shard", caption));
        assertEquals("three shards", 0, explainCalls(IMAGES, caption));
        float modelWeight = ModelBundle.load(ReferenceData.modelsDir().resolve(ReferenceData.MODEL_ID)).itcWeight();
        ScoreFormula formula = new ScoreFormula(ScoreMode.ITM_PLUS_ITC, 1, 1, modelWeight);
        ObjectPath explained = search("one-shard", textToImage(caption, 5, "", ", \"explain\": true"));
        for (int i = 0; i < (int) explained.evaluateArraySize("hits.hits"); i++) {
            Map<String, Object> hit = explained.evaluate("hits.hits." + i);
            float score = ((Number) hit.get("_score")).floatValue();
            assertEquals(score, ((Number) ObjectPath.evaluate(hit, "_explanation.value")).floatValue(), 0f);
            Float itm = part(ObjectPath.evaluate(hit, "_explanation"), ScorePart.ITM);
            if (itm != null) {
                assertEquals(hit.get("_id").toString(), score, formula.score(0f, itm, part(ObjectPath.evaluate(hit, "_explanation"),
                    ScorePart.ITC)), 0f);
            }
        }
    }

    /** The fusion calls an explained search makes beyond the same search unexplained, each with a text no other search used. */
    private long explainCalls(String index, String caption) throws IOException {
        long before = fusionCalls();
        search(index, textToImage(caption + " " + randomAlphaOfLength(8).toLowerCase(Locale.ROOT), 5, "", ""));
        long plain = fusionCalls() - before;
        before = fusionCalls();
        search(index, textToImage(caption + " " + randomAlphaOfLength(8).toLowerCase(Locale.ROOT), 5, "", ", \"explain\": true"));
        return fusionCalls() - before - plain;
    }

    private long fusionCalls() {
        return StreamSupport.stream(internalCluster().getInstances(ModelRegistry.class).spliterator(), false)
            .flatMap(registry -> registry.ifLoaded(ReferenceData.MODEL_ID).stream())
            .mapToLong(model -> model.stats().calls())
            .sum();
    }

    /** The value of the explanation node holding {@code part}, or null. */
    @SuppressWarnings("unchecked")
    private static Float part(Map<String, Object> explanation, ScorePart part) {
        if (part.describes((String) explanation.get("description"))) {
            return ((Number) explanation.get("value")).floatValue();
        }
        for (Object detail : (List<Object>) explanation.getOrDefault("details", List.of())) {
            Float value = part((Map<String, Object>) detail, part);
            if (value != null) {
                return value;
            }
        }
        return null;
    }

    /** An itc_weight the request names, and the model's (its manifest's) where it names none. */
    public void testExplainShowsTheItmAndWeightedItcParts() throws Exception {
        float modelWeight = ModelBundle.load(ReferenceData.modelsDir().resolve(ReferenceData.MODEL_ID)).itcWeight();
        assertExplainedWeight(", \"itc_weight\": 4", 4f);
        assertExplainedWeight("", modelWeight);
    }

    private void assertExplainedWeight(String itcWeightOption, float weight) throws IOException {
        ObjectPath response = search(IMAGES, textToImage(data.captions().get(3), 5, itcWeightOption, ", \"explain\": true"));
        Map<String, Object> top = hit(response, "image-3");
        assertThat(ObjectPath.evaluate(top, "_explanation.description"), startsWith("fuserank_itm score_mode [itm_plus_itc]"));
        assertThat(ObjectPath.evaluate(top, "_explanation.details.0.description"),
            startsWith("raw score: ITM logit + itc_weight [" + weight + "] * ITC dot product"));
        assertThat(ObjectPath.evaluate(top, "_explanation.details.0.details.0.description"), startsWith("itm: ITM match logit"));
        assertThat(ObjectPath.evaluate(top, "_explanation.details.0.details.1.description"),
            startsWith("itc_weight [" + weight + "] * ITC dot product"));
        assertThat(ObjectPath.evaluate(top, "_explanation.details.0.details.1.details.0.description"), startsWith("itc: ITC dot product"));
        double itm = ((Number) ObjectPath.evaluate(top, "_explanation.details.0.details.0.value")).doubleValue();
        double weighted = ((Number) ObjectPath.evaluate(top, "_explanation.details.0.details.1.value")).doubleValue();
        double itc = ((Number) ObjectPath.evaluate(top, "_explanation.details.0.details.1.details.0.value")).doubleValue();
        assertThat(itm, greaterThan(0.0));
        assertThat(itc, greaterThan(0.9));
        assertEquals(weight * itc, weighted, 1e-5 * Math.max(1, weight));
        assertEquals("raw score + 1", ((Number) top.get("_score")).doubleValue(), 1 + itm + weight * itc, 1e-4 * Math.max(1, weight));
    }

    public void testTheRescorerRetriever() throws IOException {
        for (int i = 0; i < data.captions().size(); i++) {
            String caption = quote(data.captions().get(i));
            int before = encodes();
            ObjectPath response = search(IMAGES, String.format(Locale.ROOT, """
                {"size": 5,
                 "retriever": {"rescorer": {
                   "retriever": {"knn": {"field": "image_vector", "k": 5, "num_candidates": 10,
                     "query_vector_builder": {"fuserank_text": {"model_id": "fuserank-small", "text": %s}}}},
                   "rescore": {"window_size": 5, "fuserank_itm": {"model_id": "fuserank-small", "text": %s}}}}}""",
                caption, caption));
            assertEquals(response.toString(), 5, response.evaluateArraySize("hits.hits"));
            assertEquals("caption [" + i + "]", "image-" + i, response.evaluate("hits.hits.0._id"));
            assertEquals("one ask for the knn vector, one for the rescorer", 2, encodes() - before);
        }
    }

    public void testImageToTextAndImageToImage() throws IOException {
        for (int i = 0; i < data.images().size(); i++) {
            String image = quote(Base64.getEncoder().encodeToString(data.images().get(i)));
            ObjectPath captions = search(CAPTIONS, String.format(Locale.ROOT, """
                {"size": 4,
                 "knn": {"field": "text_vector", "k": 4, "num_candidates": 10,
                   "query_vector_builder": {"fuserank_image": {"model_id": "fuserank-small", "image": %s}}},
                 "rescore": {"window_size": 4, "fuserank_itm": {"model_id": "fuserank-small", "image": %s}}}""", image, image));
            assertEquals("image [" + i + "]", "caption-" + i, captions.evaluate("hits.hits.0._id"));
            ObjectPath images = search(IMAGES, String.format(Locale.ROOT, """
                {"size": 1, "knn": {"field": "image_vector", "k": 1, "num_candidates": 10,
                   "query_vector_builder": {"fuserank_image": {"model_id": "fuserank-small", "image": %s}}}}""", image));
            assertEquals("image [" + i + "]", "image-" + i, images.evaluate("hits.hits.0._id"));
        }
    }

    public void testHitsBelowTheWindowKeepTheirOrderBelowIt() throws IOException {
        String index = "images_one_shard";
        createImageIndex(index, 1);
        String caption = data.captions().get(0);
        List<String> firstStage = ids(search(index, knnOnly(caption)));
        ObjectPath rescored = search(index, textToImage(caption, 2, "", ""));
        List<String> ids = ids(rescored);
        assertEquals(firstStage.subList(2, 5), ids.subList(2, 5));
        assertEquals(firstStage.subList(0, 2).stream().sorted().toList(), ids.subList(0, 2).stream().sorted().toList());
        double lowestRescored = ((Number) rescored.evaluate("hits.hits.1._score")).doubleValue();
        assertThat(((Number) rescored.evaluate("hits.hits.2._score")).doubleValue(), lessThan(lowestRescored));
    }

    public void testOtherScoreModes() throws IOException {
        String caption = data.captions().get(1);
        ObjectPath itm = search(IMAGES, textToImage(caption, 5, ", \"score_mode\": \"itm\"", ", \"explain\": true"));
        assertEquals("image-1", itm.evaluate("hits.hits.0._id"));
        assertThat(itm.evaluate("hits.hits.0._explanation.details.0.description"), startsWith("raw score: ITM logit"));
        ObjectPath blend = search(IMAGES, textToImage(caption, 5,
            ", \"score_mode\": \"blend\", \"query_weight\": 0.5, \"rescore_query_weight\": 2", ", \"explain\": true"));
        assertEquals("image-1", blend.evaluate("hits.hits.0._id"));
        assertThat(blend.evaluate("hits.hits.0._explanation.details.0.description"), containsString(
            "query_weight [0.5] * first-stage score + rescore_query_weight [2.0] * ITM logit"));
    }

    /**
     * An index of good images and, beside them, a document for every way a stored blob can be bad,
     * each with a good image's vector so that it lands in the rescore window. The search succeeds on
     * every shard, good hits are reranked, each bad hit keeps its first-stage score and explain says
     * why, no score is null, and a shard with bad hits says so in a response warning.
     */
    public void testDamagedFeaturesKeepTheFirstStageScoreAndTheSearchSucceeds() throws IOException {
        String index = "damaged";
        createImageIndex(index, 2);
        Map<String, Object> damaged = DamagedBlobs.imageBlobs(data.imageBlobs().get(0), data.textBlobs().get(0));
        StringBuilder bulk = new StringBuilder();
        int k = 0;
        for (Map.Entry<String, Object> kind : damaged.entrySet()) {
            bulk.append(bulkLine(index, kind.getKey(), Map.of("image_vector", data.imageVectors().get(k++ % data.images().size()),
                "image_features", kind.getValue())));
        }
        bulk(bulk.toString());
        int docs = data.images().size() + 1 + damaged.size();
        int c = 2;
        String caption = data.captions().get(c);
        ObjectPath knnOnly = search(index, knnAll(caption, docs, ""));
        Response raw = performSearch(index, knnAll(caption, docs, String.format(Locale.ROOT,
            ", \"explain\": true, \"rescore\": {\"window_size\": %d, \"fuserank_itm\": {\"model_id\": \"fuserank-small\", "
                + "\"text\": %s}}", docs, quote(caption))));
        ObjectPath rescored = ObjectPath.createFromResponse(raw);
        assertEquals(0, (int) rescored.evaluate("_shards.failed"));
        assertEquals(docs, rescored.evaluateArraySize("hits.hits"));
        assertEquals("caption [" + c + "]", "image-" + c, rescored.evaluate("hits.hits.0._id"));
        for (int h = 0; h < docs; h++) {
            Object score = rescored.evaluate("hits.hits." + h + "._score");
            assertTrue("hit " + h + " has score " + score, score instanceof Number n && Double.isFinite(n.doubleValue()));
        }
        for (String bad : damaged.keySet()) {
            Map<String, Object> hit = hit(rescored, bad);
            assertEquals(bad, scoreOf(knnOnly, bad), ((Number) hit.get("_score")).floatValue(), 1e-6f);
            assertThat(bad, ObjectPath.evaluate(hit, "_explanation.description"),
                startsWith("fuserank_itm did not rescore this hit (" + DamagedBlobs.REASONS.get(bad)));
        }
        for (int i = 0; i < data.images().size(); i++) {
            assertThat(ObjectPath.evaluate(hit(rescored, "image-" + i), "_explanation.description"),
                startsWith("fuserank_itm score_mode [itm_plus_itc]"));
        }
        // Both shards have damaged hits and warn; Elasticsearch keeps the response headers of the
        // shard response that completes a phase, not the union, so one or both warnings arrive.
        List<String> warnings = raw.getWarnings();
        assertThat(warnings.toString(), warnings.size(), both(greaterThan(0)).and(lessThan(3)));
        for (String warning : warnings) {
            assertThat(warning, containsString("[fuserank_itm] shard [damaged]["));
            assertThat(warning, containsString("hits in the rescore window kept their first-stage score because their [image_features] "
                + "could not be scored; the first, "));
            assertThat(warning, either(containsString("the first, _id [")).or(containsString("the first, doc [")));
        }
    }

    public void testAWindowBelowOneIsABadRequestNamingTheValue() {
        for (int window : new int[] {0, -1}) {
            String body = textToImage(data.captions().get(0), window, "", "");
            ResponseException e = expectThrows(ResponseException.class, () -> search(IMAGES, body));
            assertEquals(400, e.getResponse().getStatusLine().getStatusCode());
            assertThat(responseBody(e), containsString("[fuserank_itm] window_size [" + window + "] must be at least [1]"));
        }
    }

    /**
     * A text query over caption features, or an image query over image features: a 400 naming the
     * field and the model's layout. (One shard each: a shard without hits in its window has nothing
     * to check and succeeds, which makes a search over several shards a partial failure instead.)
     */
    public void testFeaturesOfTheQuerysOwnModalityAreABadRequest() throws IOException {
        createCaptionIndex("captions_one_shard", 1);
        createImageIndex("images_one_shard", 1);
        ResponseException text = ownModalityRescore("captions_one_shard", "text", data.captions().get(0));
        assertEquals(400, text.getResponse().getStatusLine().getStatusCode());
        assertThat(responseBody(text), containsString("[fuserank_itm] [features_field] [text_features] holds caption token features ("));
        assertThat(responseBody(text), containsString(
            "tokens); a text query needs image features [1 x 65 x 192] of model [fuserank-small]"));
        ResponseException imageQuery = ownModalityRescore("images_one_shard", "image",
            Base64.getEncoder().encodeToString(data.images().get(0)));
        assertEquals(400, imageQuery.getResponse().getStatusLine().getStatusCode());
        assertThat(responseBody(imageQuery), containsString("[fuserank_itm] [features_field] [image_features] holds image token features "
            + "(65 tokens); an image query needs caption features [1 x 1..32 x 192] of model [fuserank-small]"));
    }

    /**
     * The failure of a {@code knn} search over {@code <kind>_vector} with the {@code <kind>} query
     * ({@code text} or {@code image}) {@code value}, rescored over {@code <kind>_features} with the same query.
     */
    private static ResponseException ownModalityRescore(String index, String kind, String value) {
        String query = quote(value);
        return expectThrows(ResponseException.class, () -> search(index, String.format(Locale.ROOT, """
            {"size": 4,
             "knn": {"field": "%1$s_vector", "k": 4, "num_candidates": 10,
               "query_vector_builder": {"fuserank_%2$s": {"model_id": "fuserank-small", "%2$s": %3$s}}},
             "rescore": {"window_size": 4, "fuserank_itm": {"model_id": "fuserank-small", "%2$s": %3$s,
               "features_field": "%1$s_features", "vector_field": "%1$s_vector"}}}""", kind, kind, query)));
    }

    /** {@code knn} over every document of a small index with {@code fuserank_text}, plus {@code extra} members (starting with a comma). */
    private static String knnAll(String caption, int docs, String extra) {
        return String.format(Locale.ROOT, """
            {"size": %d,
             "knn": {"field": "image_vector", "k": %d, "num_candidates": %d,
               "query_vector_builder": {"fuserank_text": {"model_id": "fuserank-small", "text": %s}}}%s}""",
            docs, docs, docs, quote(caption), extra);
    }

    private static String responseBody(ResponseException e) {
        try {
            return EntityUtils.toString(e.getResponse().getEntity());
        } catch (IOException io) {
            throw new AssertionError(io);
        }
    }

    /**
     * {@code knn} with {@code fuserank_text} over {@code image_vector} and a top-level {@code fuserank_itm}
     * rescore with the same text; {@code rescorerOptions} and {@code topLevel} are extra JSON members
     * (each starting with a comma) for the rescorer's object and for the request.
     */
    private static String textToImage(String caption, int window, String rescorerOptions, String topLevel) {
        return String.format(Locale.ROOT, """
            {"size": 5,
             "knn": %s,
             "rescore": {"window_size": %d, "fuserank_itm": {"model_id": "fuserank-small", "text": %s%s}}%s}""",
            knnText(caption), window, quote(caption), rescorerOptions, topLevel);
    }

    private static String knnOnly(String caption) {
        return "{\"size\": 5, \"knn\": " + knnText(caption) + "}";
    }

    private static String knnText(String caption) {
        return String.format(Locale.ROOT, """
            {"field": "image_vector", "k": 5, "num_candidates": 10,
               "query_vector_builder": {"fuserank_text": {"model_id": "fuserank-small", "text": %s}}}""", quote(caption));
    }

    private void createImageIndex(String index, int shards) throws IOException {
        put(index, shards, """
            "image_vector": {"type": "dense_vector", "dims": 128, "similarity": "dot_product", "index_options": {"type": "int8_hnsw"}},
            "image_features": {"type": "binary", "doc_values": true}""", "image_features");
        StringBuilder bulk = new StringBuilder();
        for (int i = 0; i < data.images().size(); i++) {
            bulk.append(bulkLine(index, "image-" + i, Map.of("image_vector", data.imageVectors().get(i),
                "image_features", data.imageBlobs().get(i))));
        }
        // like image 1, but indexed without token features
        bulk.append(bulkLine(index, BARE, Map.of("image_vector", data.imageVectors().get(1))));
        bulk(bulk.toString());
    }

    private void createCaptionIndex(String index, int shards) throws IOException {
        put(index, shards, """
            "text_vector": {"type": "dense_vector", "dims": 128, "similarity": "dot_product", "index_options": {"type": "int8_hnsw"}},
            "text_features": {"type": "binary", "doc_values": true}""", "text_features");
        StringBuilder bulk = new StringBuilder();
        for (int i = 0; i < data.captions().size(); i++) {
            bulk.append(bulkLine(index, "caption-" + i, Map.of("caption", data.captions().get(i),
                "text_vector", data.textVectors().get(i), "text_features", data.textBlobs().get(i))));
        }
        bulk(bulk.toString());
    }

    private void put(String index, int shards, String properties, String excluded) throws IOException {
        Request request = new Request("PUT", "/" + index);
        request.setJsonEntity(String.format(Locale.ROOT, """
            {"settings": {"number_of_shards": %d, "number_of_replicas": 1},
             "mappings": {"_source": {"excludes": ["%s"]}, "properties": {%s}}}""", shards, excluded, properties));
        getRestClient().performRequest(request);
        ensureGreen(index);
    }

    private void bulk(String body) throws IOException {
        Request request = new Request("POST", "/_bulk");
        request.addParameter("refresh", "true");
        request.setJsonEntity(body);
        ObjectPath response = ObjectPath.createFromResponse(getRestClient().performRequest(request));
        assertFalse(response.toString(), response.evaluate("errors"));
    }

    private static String bulkLine(String index, String id, Map<String, Object> source) throws IOException {
        XContentBuilder doc = JsonXContent.contentBuilder().startObject();
        for (Map.Entry<String, Object> field : source.entrySet()) {
            if (field.getValue() instanceof byte[] blob) {
                doc.field(field.getKey(), Base64.getEncoder().encodeToString(blob));
            } else if (field.getValue() instanceof List<?> blobs) {
                doc.field(field.getKey(), blobs.stream().map(blob -> Base64.getEncoder().encodeToString((byte[]) blob)).toList());
            } else {
                doc.field(field.getKey(), field.getValue());
            }
        }
        return "{\"index\": {\"_index\": \"" + index + "\", \"_id\": \"" + id + "\"}}\n" + Strings.toString(doc.endObject()) + "\n";
    }

    private static ObjectPath search(String index, String body) throws IOException {
        return ObjectPath.createFromResponse(performSearch(index, body));
    }

    private static Response performSearch(String index, String body) throws IOException {
        Request request = new Request("POST", "/" + index + "/_search");
        request.setJsonEntity(body);
        return getRestClient().performRequest(request);
    }

    private long cacheHits() {
        return StreamSupport.stream(internalCluster().getInstances(QueryEncodingCache.class).spliterator(), false)
            .mapToLong(QueryEncodingCache::hits).sum();
    }

    private int encodes() {
        return StreamSupport.stream(internalCluster().getInstances(PluginsService.class).spliterator(), false)
            .flatMap(plugins -> plugins.filterPlugins(EncodeCounter.class))
            .mapToInt(counter -> counter.encodes.get())
            .sum();
    }

    private static List<String> ids(ObjectPath response) throws IOException {
        List<String> ids = new ArrayList<>();
        for (int i = 0; i < response.evaluateArraySize("hits.hits"); i++) {
            ids.add(response.evaluate("hits.hits." + i + "._id"));
        }
        return ids;
    }

    private static Map<String, Object> hit(ObjectPath response, String id) throws IOException {
        List<Map<String, Object>> hits = response.evaluate("hits.hits");
        return hits.stream().filter(h -> id.equals(h.get("_id"))).findFirst()
            .orElseThrow(() -> new AssertionError("no hit [" + id + "] in " + response));
    }

    private static float scoreOf(ObjectPath response, String id) throws IOException {
        return ((Number) hit(response, id).get("_score")).floatValue();
    }

    private static String json(float[] vector) throws IOException {
        return Strings.toString(JsonXContent.contentBuilder().value(vector));
    }

    private static String quote(String value) {
        return "\"" + value.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
    }
}
