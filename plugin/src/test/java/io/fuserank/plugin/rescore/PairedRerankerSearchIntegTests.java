package io.fuserank.plugin.rescore;

import static io.fuserank.plugin.rescore.SearchTestRequests.bulkLine;
import static io.fuserank.plugin.rescore.SearchTestRequests.ids;
import static io.fuserank.plugin.rescore.SearchTestRequests.quote;

import io.fuserank.encoder.ModelBundle;
import io.fuserank.plugin.FuseRankPlugin;
import io.fuserank.plugin.FuseRankSettings;
import org.elasticsearch.client.Request;
import org.elasticsearch.client.ResponseException;
import org.elasticsearch.common.network.NetworkModule;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.test.ESIntegTestCase;
import org.elasticsearch.test.rest.ObjectPath;
import org.elasticsearch.transport.netty4.Netty4Plugin;
import org.junit.AfterClass;
import org.junit.Before;
import org.junit.BeforeClass;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.util.Base64;
import java.util.Collection;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.IntStream;

import static org.hamcrest.Matchers.containsString;

/**
 * A reranker without ITC, paired with another model's vectors for the kNN first stage, on two
 * nodes: the random-weight tiny imports of {@code BridgeTowerForImageAndTextRetrieval}
 * ({@code bridgetower-tiny}) and of {@code ViltForImageAndTextRetrieval} ({@code vilt-tiny}, whose
 * images keep their own input sizes), each paired with the tiny BLIP ({@code blip-tiny}) for the
 * vectors. One ingest pipeline writes both models' fields: BLIP's processor the vector, the
 * reranker's processor its stored features, under its own field name. A search
 * is {@code knn} on BLIP's vectors with BLIP's query vector builder, then {@code fuserank_itm} with
 * the reranker's model and field. With every candidate in the window, the order must be the order
 * of the reranker's own source scores ({@code reference/itm_logits.bin}, from the Hugging Face
 * forward) in both directions, for {@code score_mode: itm} and for a request naming no mode (the
 * model's: {@code itm}); a score reading ITC, or a query vector from the reranker, is a 400 saying why.
 */
@ESIntegTestCase.ClusterScope(scope = ESIntegTestCase.Scope.SUITE, numDataNodes = 2, numClientNodes = 0, supportsDedicatedMasters = false)
public class PairedRerankerSearchIntegTests extends ESIntegTestCase {

    private static final String FIRST_STAGE = "blip-tiny";
    private static final List<String> RERANKERS = List.of("bridgetower-tiny", "vilt-tiny");
    private static Map<String, Reranker> rerankers;
    private static int firstStageDims;

    /** A reranker's reference inputs and its source model's ITM match logits, [image][caption]. */
    private record Reranker(String model, List<byte[]> images, List<String> captions, float[][] itm) {

        String imageIndex() {
            return model + "_images";
        }

        String captionIndex() {
            return model + "_captions";
        }

        static Reranker load(String model) throws IOException {
            ModelBundle bundle = ModelBundle.load(ImportedModelsSearchIntegTests.bundlesDir().resolve(model));
            ReferenceData.Inputs inputs = ReferenceData.Inputs.of(bundle);
            int n = inputs.images().size();
            int m = inputs.captions().size();
            byte[] raw = Files.readAllBytes(bundle.directory().resolve("reference").resolve("itm_logits.bin"));
            assertEquals("itm_logits.bin size", n * m * 2 * 4, raw.length);
            ByteBuffer logits = ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN);
            float[][] itm = new float[n][m];
            for (int i = 0; i < n; i++) {
                for (int c = 0; c < m; c++) {
                    itm[i][c] = logits.getFloat(((i * m + c) * 2 + 1) * 4);
                }
            }
            assertFalse(model + " has no ITC", bundle.hasEmbedding());
            return new Reranker(model, inputs.images(), inputs.captions(), itm);
        }
    }

    @BeforeClass
    public static void loadReferences() throws Exception {
        rerankers = new LinkedHashMap<>();
        for (String model : RERANKERS) {
            rerankers.put(model, Reranker.load(model));
        }
        firstStageDims = ModelBundle.load(ImportedModelsSearchIntegTests.bundlesDir().resolve(FIRST_STAGE)).embeddingDim();
    }

    @AfterClass
    public static void release() {
        rerankers = null;
    }

    @Override
    protected Collection<Class<? extends Plugin>> nodePlugins() {
        return List.of(FuseRankPlugin.class, Netty4Plugin.class);
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
            .put(FuseRankSettings.MODELS_PATH.getKey(), ImportedModelsSearchIntegTests.bundlesDir().toString())
            .build();
    }

    @Before
    public void ingest() throws IOException {
        for (Reranker reranker : rerankers.values()) {
            pairedPipeline(reranker.model() + "-images", reranker.model(), "image_field", "image", "image_vector");
            pairedPipeline(reranker.model() + "-captions", reranker.model(), "text_field", "caption", "text_vector");
            index(reranker.imageIndex(), "image", "binary", "image_vector");
            index(reranker.captionIndex(), "caption", "text", "text_vector");
            StringBuilder lines = new StringBuilder();
            for (int i = 0; i < reranker.images().size(); i++) {
                lines.append(bulkLine(reranker.imageIndex(), "image-" + i, "image",
                    Base64.getEncoder().encodeToString(reranker.images().get(i))));
            }
            bulk(lines.toString(), reranker.model() + "-images");
            lines.setLength(0);
            for (int c = 0; c < reranker.captions().size(); c++) {
                lines.append(bulkLine(reranker.captionIndex(), "caption-" + c, "caption", reranker.captions().get(c)));
            }
            bulk(lines.toString(), reranker.model() + "-captions");
        }
    }

    public void testTextToImageFollowsTheRerankersScores() throws IOException {
        for (Reranker reranker : rerankers.values()) {
            for (int c = 0; c < reranker.captions().size(); c++) {
                int caption = c;
                String text = "\"text\": " + quote(reranker.captions().get(c));
                for (String mode : new String[] {null, "itm"}) {
                    assertEquals(reranker.model() + ", caption [" + c + "], score_mode [" + mode + "]",
                        expectedOrder("image-", reranker.images().size(), i -> reranker.itm()[i][caption]),
                        ids(search(reranker.imageIndex(), body(reranker, "image_vector", "fuserank_text", text,
                            reranker.images().size(), mode))));
                }
            }
        }
    }

    public void testImageToTextFollowsTheRerankersScores() throws IOException {
        for (Reranker reranker : rerankers.values()) {
            for (int i = 0; i < reranker.images().size(); i++) {
                int image = i;
                String query = "\"image\": " + quote(Base64.getEncoder().encodeToString(reranker.images().get(i)));
                assertEquals(reranker.model() + ", image [" + i + "]",
                    expectedOrder("caption-", reranker.captions().size(), c -> reranker.itm()[image][c]),
                    ids(search(reranker.captionIndex(), body(reranker, "text_vector", "fuserank_image", query,
                        reranker.captions().size(), null))));
            }
        }
    }

    /** A score that reads ITC, or a query vector, from a model without ITC: a 400 naming why, not a shard failure. */
    public void testWhatNeedsAnItcEmbeddingIsA400() throws IOException {
        for (Reranker reranker : rerankers.values()) {
            String text = "\"text\": " + quote(reranker.captions().get(0));
            ResponseException itc = expectThrows(ResponseException.class, () -> search(reranker.imageIndex(),
                body(reranker, "image_vector", "fuserank_text", text, 4, "itm_plus_itc")));
            assertEquals(400, itc.getResponse().getStatusLine().getStatusCode());
            assertThat(itc.getMessage(), containsString("score_mode [itm_plus_itc] needs the model's ITC embedding"));

            String vectorFromReranker = String.format(Locale.ROOT, """
                {"knn": {"field": "image_vector", "k": 4, "num_candidates": 4,
                 "query_vector_builder": {"fuserank_text": {"model_id": "%s", %s}}}}""", reranker.model(), text);
            ResponseException vector = expectThrows(ResponseException.class, () -> search(reranker.imageIndex(), vectorFromReranker));
            assertEquals(400, vector.getResponse().getStatusLine().getStatusCode());
            assertThat(vector.getMessage(), containsString("model [" + reranker.model() + "] has no ITC embedding"));
        }
    }

    /** The reranker's processor alone writes its features and no vector. */
    public void testTheRerankersProcessorWritesNoVector() throws IOException {
        for (Reranker reranker : rerankers.values()) {
            Request simulate = new Request("POST", "/_ingest/pipeline/_simulate");
            simulate.setJsonEntity(String.format(Locale.ROOT, """
                {"pipeline": {"processors": [{"fuserank": {"model_id": "%s", "image_field": "image", "codec": "fp32"}}]},
                 "docs": [{"_source": {"image": "%s"}}]}""", reranker.model(),
                Base64.getEncoder().encodeToString(reranker.images().get(0))));
            ObjectPath response = ObjectPath.createFromResponse(getRestClient().performRequest(simulate));
            assertNotNull(response.toString(), response.evaluate("docs.0.doc._source.image_features"));
            assertNull(response.toString(), response.evaluate("docs.0.doc._source.image_vector"));
        }
    }

    private static String body(Reranker reranker, String vectorField, String builder, String query, int count, String mode) {
        return String.format(Locale.ROOT, """
            {"size": %d,
             "knn": {"field": "%s", "k": %d, "num_candidates": %d, "query_vector_builder": {"%s": {"model_id": "%s", %s}}},
             "rescore": {"window_size": %d, "fuserank_itm": {"model_id": "%s", "features_field": "rerank_features", %s%s}}}""",
            count, vectorField, count, count, builder, FIRST_STAGE, query, count, reranker.model(), query,
            mode == null ? "" : ", \"score_mode\": \"" + mode + "\"");
    }

    private interface Score {
        float of(int candidate);
    }

    private static List<String> expectedOrder(String prefix, int count, Score score) {
        return IntStream.range(0, count).boxed()
            .sorted(Comparator.comparingDouble((Integer j) -> score.of(j)).reversed())
            .map(j -> prefix + j)
            .toList();
    }

    /**
     * BLIP writes the vector, the reranker its features, as one pipeline. BLIP's own blob goes to a
     * field mapped without doc values; a real node drops it with a {@code remove} processor
     * (docs/plugin.md), which the test framework's nodes lack (no ingest-common module).
     */
    private void pairedPipeline(String id, String reranker, String sourceOption, String sourceField, String vectorField) throws IOException {
        Request request = new Request("PUT", "/_ingest/pipeline/" + id);
        request.setJsonEntity(String.format(Locale.ROOT, """
            {"processors": [
              {"fuserank": {"model_id": "%s", "%s": "%s", "vector_field": "%s", "features_field": "first_stage_features"}},
              {"fuserank": {"model_id": "%s", "%s": "%s", "features_field": "rerank_features", "codec": "fp32"}}]}""",
            FIRST_STAGE, sourceOption, sourceField, vectorField, reranker, sourceOption, sourceField));
        getRestClient().performRequest(request);
    }

    private void index(String index, String sourceField, String sourceType, String vectorField) throws IOException {
        Request request = new Request("PUT", "/" + index);
        request.setJsonEntity(String.format(Locale.ROOT, """
            {"settings": {"number_of_shards": 3, "number_of_replicas": 1},
             "mappings": {"properties": {
               "%s": {"type": "%s"},
               "%s": {"type": "dense_vector", "dims": %d, "similarity": "dot_product", "index_options": {"type": "hnsw"}},
               "first_stage_features": {"type": "binary", "doc_values": false},
               "rerank_features": {"type": "binary", "doc_values": true}}}}""", sourceField, sourceType, vectorField, firstStageDims));
        getRestClient().performRequest(request);
        ensureGreen(index);
    }

    private void bulk(String body, String pipeline) throws IOException {
        SearchTestRequests.bulk(getRestClient(), body, pipeline);
    }

    private static ObjectPath search(String index, String body) throws IOException {
        return SearchTestRequests.search(getRestClient(), index, body);
    }
}
