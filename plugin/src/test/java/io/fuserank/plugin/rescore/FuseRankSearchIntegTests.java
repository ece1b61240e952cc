package io.fuserank.plugin.rescore;

import io.fuserank.encoder.ModelBundle;
import io.fuserank.plugin.FuseRankPlugin;
import io.fuserank.plugin.FuseRankSettings;
import io.fuserank.plugin.action.OnEncodeFilter;
import io.fuserank.plugin.action.QueryEncodingCache;
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

import static org.hamcrest.Matchers.containsString;
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
        createCaptionIndex();
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
        assertThat(ObjectPath.evaluate(top, "_explanation.details.0.details.0.description"), startsWith("ITM match logit"));
        assertThat(ObjectPath.evaluate(top, "_explanation.details.0.details.1.description"),
            startsWith("itc_weight [" + weight + "] * ITC dot product"));
        assertThat(ObjectPath.evaluate(top, "_explanation.details.0.details.1.details.0.description"), startsWith("ITC dot product"));
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

    private void createCaptionIndex() throws IOException {
        put(CAPTIONS, 3, """
            "text_vector": {"type": "dense_vector", "dims": 128, "similarity": "dot_product", "index_options": {"type": "int8_hnsw"}},
            "text_features": {"type": "binary", "doc_values": true}""", "text_features");
        StringBuilder bulk = new StringBuilder();
        for (int i = 0; i < data.captions().size(); i++) {
            bulk.append(bulkLine(CAPTIONS, "caption-" + i, Map.of("caption", data.captions().get(i),
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
            } else {
                doc.field(field.getKey(), field.getValue());
            }
        }
        return "{\"index\": {\"_index\": \"" + index + "\", \"_id\": \"" + id + "\"}}\n" + Strings.toString(doc.endObject()) + "\n";
    }

    private static ObjectPath search(String index, String body) throws IOException {
        Request request = new Request("POST", "/" + index + "/_search");
        request.setJsonEntity(body);
        Response response = getRestClient().performRequest(request);
        return ObjectPath.createFromResponse(response);
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
