package io.fuserank.plugin.rescore;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fuserank.encoder.ModelBundle;
import io.fuserank.encoder.TokenIdsCodec;
import io.fuserank.plugin.FuseRankPlugin;
import io.fuserank.plugin.FuseRankSettings;
import org.elasticsearch.client.Request;
import org.elasticsearch.common.Strings;
import org.elasticsearch.common.network.NetworkModule;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.test.ESIntegTestCase;
import org.elasticsearch.test.rest.ObjectPath;
import org.elasticsearch.transport.netty4.Netty4Plugin;
import org.elasticsearch.xcontent.json.JsonXContent;
import org.junit.AfterClass;
import org.junit.Before;
import org.junit.BeforeClass;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.stream.IntStream;

/**
 * An imported BLIP served end to end on two nodes: the random-weight tiny
 * {@code BlipForImageTextRetrieval} of {@code encoder/src/test/resources/bundles/blip-tiny}
 * ({@code make-blip-tiny}), its reference images and captions ingested through the {@code fuserank}
 * processor (an image document stores token features, a caption document its token ids, as the
 * manifest's {@code fusion.documents} says), then {@code knn} + {@code fuserank_itm} text → image and
 * image → text. The rescored order must be the order of the Hugging Face model's own scores for the
 * same pairs ({@code reference/itm_logits.bin}, {@code reference/itc_similarity.bin}, written by
 * {@code BlipForImageTextRetrieval.forward} when the bundle was made), for the ITM logit alone and
 * for BLIP's retrieval score, ITM logit + ITC similarity.
 */
@ESIntegTestCase.ClusterScope(scope = ESIntegTestCase.Scope.SUITE, numDataNodes = 2, numClientNodes = 0, supportsDedicatedMasters = false)
public class ImportedBlipSearchIntegTests extends ESIntegTestCase {

    private static final String MODEL = "blip-tiny";
    private static final String IMAGES = "blip_images";
    private static final String CAPTIONS = "blip_captions";

    private static List<byte[]> images;
    private static List<String> captions;
    private static long[][] captionIds;
    /** [image][caption]: the source model's ITM match logit and ITC similarity. */
    private static float[][] itm;
    private static float[][] itc;
    private static int dims;

    static Path bundlesDir() {
        return Path.of("..", "encoder", "src", "test", "resources", "bundles").toAbsolutePath().normalize();
    }

    @BeforeClass
    public static void loadReference() throws Exception {
        ModelBundle bundle = ModelBundle.load(bundlesDir().resolve(MODEL));
        dims = bundle.embeddingDim();
        Path reference = bundle.directory().resolve("reference");
        JsonNode json = new ObjectMapper().readTree(reference.resolve("reference.json").toFile());
        images = new ArrayList<>();
        for (JsonNode image : json.get("images")) {
            images.add(Files.readAllBytes(bundle.directory().resolve(image.asText())));
        }
        captions = new ArrayList<>();
        json.get("captions").forEach(c -> captions.add(c.asText()));
        int n = images.size();
        int m = captions.size();
        float[] logits = floats(reference.resolve("itm_logits.bin"), n * m * 2);
        float[] similarity = floats(reference.resolve("itc_similarity.bin"), n * m);
        itm = new float[n][m];
        itc = new float[n][m];
        for (int i = 0; i < n; i++) {
            for (int c = 0; c < m; c++) {
                itm[i][c] = logits[(i * m + c) * 2 + 1];
                itc[i][c] = similarity[i * m + c];
            }
        }
        int length = json.at("/arrays/input_ids/shape/1").asInt();
        long[] ids = longs(reference.resolve("input_ids.bin"), m * length);
        long[] mask = longs(reference.resolve("attention_mask.bin"), m * length);
        captionIds = new long[m][];
        for (int c = 0; c < m; c++) {
            int real = (int) Arrays.stream(mask, c * length, (c + 1) * length).sum();
            captionIds[c] = Arrays.copyOfRange(ids, c * length, c * length + real);
        }
    }

    @AfterClass
    public static void release() {
        images = null;
        captions = null;
        captionIds = null;
        itm = null;
        itc = null;
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
            .put(FuseRankSettings.MODELS_PATH.getKey(), bundlesDir().toString())
            .build();
    }

    /** Both indices through the processor, on three shards with a replica, so the processor and the rescorer run on either node. */
    @Before
    public void ingest() throws IOException {
        pipeline("blip-images", "image_field", "image");
        pipeline("blip-captions", "text_field", "caption");
        index(IMAGES, "image", "binary", "image_vector", "image_features");
        index(CAPTIONS, "caption", "text", "text_vector", "text_features");
        StringBuilder imageLines = new StringBuilder();
        for (int i = 0; i < images.size(); i++) {
            imageLines.append(bulkLine(IMAGES, "image-" + i, "image", Base64.getEncoder().encodeToString(images.get(i))));
        }
        bulk(imageLines.toString(), "blip-images");
        StringBuilder captionLines = new StringBuilder();
        for (int c = 0; c < captions.size(); c++) {
            captionLines.append(bulkLine(CAPTIONS, "caption-" + c, "caption", captions.get(c)));
        }
        bulk(captionLines.toString(), "blip-captions");
    }

    public void testACaptionDocumentStoresItsTokenIds() throws IOException {
        for (int c = 0; c < captions.size(); c++) {
            ObjectPath doc = ObjectPath.createFromResponse(getRestClient().performRequest(new Request("GET", "/" + CAPTIONS + "/_doc/caption-" + c)));
            byte[] blob = Base64.getDecoder().decode((String) doc.evaluate("_source.text_features"));
            ModelBundle bundle = ModelBundle.load(bundlesDir().resolve(MODEL));
            assertArrayEquals("caption [" + c + "]", captionIds[c], TokenIdsCodec.decode(blob, bundle.tokenIdLimits()));
        }
    }

    public void testTextToImageFollowsTheSourceModelsScores() throws IOException {
        for (int c = 0; c < captions.size(); c++) {
            int caption = c;
            String text = quote(captions.get(c));
            String knn = knn("image_vector", images.size(), "fuserank_text", "\"text\": " + text);
            assertFollowsSourceScores("caption [" + c + "]", IMAGES, knn, "\"text\": " + text, "image-", images.size(),
                i -> itm[i][caption], i -> itc[i][caption]);
        }
    }

    public void testImageToTextFollowsTheSourceModelsScores() throws IOException {
        for (int i = 0; i < images.size(); i++) {
            int image = i;
            String base64 = quote(Base64.getEncoder().encodeToString(images.get(i)));
            String knn = knn("text_vector", captions.size(), "fuserank_image", "\"image\": " + base64);
            assertFollowsSourceScores("image [" + i + "]", CAPTIONS, knn, "\"image\": " + base64, "caption-", captions.size(),
                c -> itm[image][c], c -> itc[image][c]);
        }
    }

    /**
     * Every candidate is retrieved and in the window, so the order is the rescorer's alone: by the ITM
     * logit for {@code itm}, by ITM logit + ITC similarity for {@code itm_plus_itc} with
     * {@code itc_weight} 1 (BLIP's retrieval score).
     */
    private void assertFollowsSourceScores(String what, String index, String knn, String query, String prefix, int count,
                                           SourceScore itmOf, SourceScore itcOf) throws IOException {
        for (String mode : List.of("itm", "itm_plus_itc")) {
            SourceScore source = mode.equals("itm") ? itmOf : j -> itmOf.of(j) + itcOf.of(j);
            String weight = mode.equals("itm") ? "" : ", \"itc_weight\": 1";
            String body = String.format(Locale.ROOT, """
                {"size": %d, "knn": %s,
                 "rescore": {"window_size": %d, "fuserank_itm": {"model_id": "%s", %s, "score_mode": "%s"%s}}}""",
                count, knn, count, MODEL, query, mode, weight);
            assertEquals(what + ", " + mode, expectedOrder(prefix, count, source), ids(search(index, body)));
        }
    }

    private static String knn(String field, int k, String builder, String query) {
        return String.format(Locale.ROOT, """
            {"field": "%s", "k": %d, "num_candidates": %d, "query_vector_builder": {"%s": {"model_id": "%s", %s}}}""",
            field, k, k, builder, MODEL, query);
    }

    private interface SourceScore {
        float of(int candidate);
    }

    /** Candidate ids by the source model's score, best first. */
    private static List<String> expectedOrder(String prefix, int count, SourceScore score) {
        return IntStream.range(0, count).boxed()
            .sorted(Comparator.comparingDouble((Integer j) -> score.of(j)).reversed())
            .map(j -> prefix + j)
            .toList();
    }

    private void pipeline(String id, String sourceOption, String sourceField) throws IOException {
        Request request = new Request("PUT", "/_ingest/pipeline/" + id);
        request.setJsonEntity(String.format(Locale.ROOT, """
            {"processors": [{"fuserank": {"model_id": "%s", "%s": "%s"}}]}""", MODEL, sourceOption, sourceField));
        getRestClient().performRequest(request);
    }

    private void index(String index, String sourceField, String sourceType, String vectorField, String featuresField) throws IOException {
        Request request = new Request("PUT", "/" + index);
        request.setJsonEntity(String.format(Locale.ROOT, """
            {"settings": {"number_of_shards": 3, "number_of_replicas": 1},
             "mappings": {"properties": {
               "%s": {"type": "%s"},
               "%s": {"type": "dense_vector", "dims": %d, "similarity": "dot_product", "index_options": {"type": "hnsw"}},
               "%s": {"type": "binary", "doc_values": true}}}}""", sourceField, sourceType, vectorField, dims, featuresField));
        getRestClient().performRequest(request);
        ensureGreen(index);
    }

    private void bulk(String body, String pipeline) throws IOException {
        Request request = new Request("POST", "/_bulk");
        request.addParameter("refresh", "true");
        request.addParameter("pipeline", pipeline);
        request.setJsonEntity(body);
        ObjectPath response = ObjectPath.createFromResponse(getRestClient().performRequest(request));
        assertFalse(response.toString(), response.evaluate("errors"));
    }

    private static String bulkLine(String index, String id, String field, String value) {
        return "{\"index\": {\"_index\": \"" + index + "\", \"_id\": \"" + id + "\"}}\n{" + quote(field) + ": " + quote(value) + "}\n";
    }

    private static ObjectPath search(String index, String body) throws IOException {
        Request request = new Request("POST", "/" + index + "/_search");
        request.setJsonEntity(body);
        return ObjectPath.createFromResponse(getRestClient().performRequest(request));
    }

    private static List<String> ids(ObjectPath response) throws IOException {
        List<String> ids = new ArrayList<>();
        for (int i = 0; i < response.evaluateArraySize("hits.hits"); i++) {
            ids.add(response.evaluate("hits.hits." + i + "._id"));
        }
        return ids;
    }

    private static String quote(String value) {
        try {
            return Strings.toString(JsonXContent.contentBuilder().value(value));
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    private static float[] floats(Path file, int count) throws IOException {
        ByteBuffer buffer = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(file + " size", count * 4L, buffer.capacity());
        float[] out = new float[count];
        buffer.asFloatBuffer().get(out);
        return out;
    }

    private static long[] longs(Path file, int count) throws IOException {
        ByteBuffer buffer = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(file + " size", count * 8L, buffer.capacity());
        long[] out = new long[count];
        buffer.asLongBuffer().get(out);
        return out;
    }
}
