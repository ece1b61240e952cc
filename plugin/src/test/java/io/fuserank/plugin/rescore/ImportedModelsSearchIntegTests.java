package io.fuserank.plugin.rescore;

import static io.fuserank.plugin.rescore.SearchTestRequests.bulkLine;
import static io.fuserank.plugin.rescore.SearchTestRequests.ids;
import static io.fuserank.plugin.rescore.SearchTestRequests.quote;

import com.fasterxml.jackson.databind.JsonNode;
import io.fuserank.encoder.ModelBundle;
import io.fuserank.reranker.RerankDefaults;
import io.fuserank.reranker.ScoreMode;
import io.fuserank.encoder.TokenIdsCodec;
import io.fuserank.plugin.FuseRankPlugin;
import io.fuserank.plugin.FuseRankSettings;
import org.elasticsearch.client.Request;
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
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Base64;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Locale;
import java.util.stream.IntStream;

/**
 * Imported published checkpoints served end to end on two nodes: the random-weight tiny BLIP
 * ({@code BlipForImageTextRetrieval}, {@code encoder/src/test/resources/bundles/blip-tiny}, made by
 * {@code make-blip-tiny}), the tiny ALBEF ({@code albef-tiny}, {@code tools/albef_tiny_bundle.py}) and
 * the tiny BridgeTower with ITC heads ({@code bridgetower-itc-tiny}: its kNN searches its own
 * {@code BridgeTowerForContrastiveLearning} vectors, its rerank runs the ITM of
 * {@code BridgeTowerForImageAndTextRetrieval}).
 * Each model's reference images and captions go through the {@code fuserank} processor (a BLIP
 * caption document stores its token ids, every other document token features, as the manifest's
 * {@code fusion.documents} says; fp32, so that the order below is the model's and not the codec's),
 * then {@code knn} + {@code fuserank_itm} text → image and image → text. The rescored order must be
 * the order of the source model's own scores for the same pairs ({@code reference/itm_logits.bin}:
 * Hugging Face's {@code BlipForImageTextRetrieval.forward}, and for ALBEF {@code families/albef.py},
 * checked equal to ALBEF's own code): for the ITM logit alone, for ITM logit + ITC similarity, and
 * for a request that names no score mode, which gets the model's (ALBEF: the ITM logit; BLIP: the sum).
 */
@ESIntegTestCase.ClusterScope(scope = ESIntegTestCase.Scope.SUITE, numDataNodes = 2, numClientNodes = 0, supportsDedicatedMasters = false)
public class ImportedModelsSearchIntegTests extends ESIntegTestCase {

    private static final List<String> MODELS = List.of("blip-tiny", "albef-tiny", "bridgetower-itc-tiny");
    private static Map<String, Source> sources;

    /**
     * A model's reference data: images, captions (and their token ids), and the source model's
     * scores, [image][caption]: the ITM match logit and the ITC similarity (BLIP's own; for ALBEF the
     * dot product of its reference embeddings).
     */
    private record Source(String model, int dims, RerankDefaults defaults, List<byte[]> images, List<String> captions,
                          long[][] captionIds, float[][] itm, float[][] itc) {

        String imageIndex() {
            return model + "_images";
        }

        String captionIndex() {
            return model + "_captions";
        }

        static Source load(String model) throws IOException {
            ModelBundle bundle = ModelBundle.load(bundlesDir().resolve(model));
            Path reference = bundle.directory().resolve("reference");
            ReferenceData.Inputs inputs = ReferenceData.Inputs.of(bundle);
            JsonNode json = inputs.json();
            List<byte[]> images = inputs.images();
            List<String> captions = inputs.captions();
            int n = images.size();
            int m = captions.size();
            int dims = bundle.embeddingDim();
            float[] logits = floats(reference.resolve("itm_logits.bin"), n * m * 2);
            float[] similarity = Files.exists(reference.resolve("itc_similarity.bin")) ? floats(reference.resolve("itc_similarity.bin"), n * m)
                : null;
            float[] imageEmbeddings = floats(reference.resolve("image_embedding.bin"), n * dims);
            float[] textEmbeddings = floats(reference.resolve("text_embedding.bin"), m * dims);
            float[][] itm = new float[n][m];
            float[][] itc = new float[n][m];
            for (int i = 0; i < n; i++) {
                for (int c = 0; c < m; c++) {
                    itm[i][c] = logits[(i * m + c) * 2 + 1];
                    float dot = 0f;
                    for (int k = 0; k < dims; k++) {
                        dot += imageEmbeddings[i * dims + k] * textEmbeddings[c * dims + k];
                    }
                    itc[i][c] = similarity != null ? similarity[i * m + c] : dot;
                }
            }
            int length = json.at("/arrays/input_ids/shape/1").asInt();
            long[] ids = longs(reference.resolve("input_ids.bin"), m * length);
            long[] mask = longs(reference.resolve("attention_mask.bin"), m * length);
            long[][] captionIds = new long[m][];
            for (int c = 0; c < m; c++) {
                int real = (int) Arrays.stream(mask, c * length, (c + 1) * length).sum();
                captionIds[c] = Arrays.copyOfRange(ids, c * length, c * length + real);
            }
            return new Source(model, dims, RerankDefaults.of(bundle), images, captions, captionIds, itm, itc);
        }
    }

    static Path bundlesDir() {
        return Path.of("..", "encoder", "src", "test", "resources", "bundles").toAbsolutePath().normalize();
    }

    @BeforeClass
    public static void loadReferences() throws Exception {
        sources = new LinkedHashMap<>();
        for (String model : MODELS) {
            sources.put(model, Source.load(model));
        }
    }

    @AfterClass
    public static void release() {
        sources = null;
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

    /** Every model's indices through the processor, on three shards with a replica, so the processor and the rescorer run on either node. */
    @Before
    public void ingest() throws IOException {
        for (Source source : sources.values()) {
            pipeline(source.model() + "-images", source.model(), "image_field", "image");
            pipeline(source.model() + "-captions", source.model(), "text_field", "caption");
            index(source.imageIndex(), "image", "binary", "image_vector", "image_features", source.dims());
            index(source.captionIndex(), "caption", "text", "text_vector", "text_features", source.dims());
            StringBuilder imageLines = new StringBuilder();
            for (int i = 0; i < source.images().size(); i++) {
                imageLines.append(bulkLine(source.imageIndex(), "image-" + i, "image", Base64.getEncoder().encodeToString(source.images().get(i))));
            }
            bulk(imageLines.toString(), source.model() + "-images");
            StringBuilder captionLines = new StringBuilder();
            for (int c = 0; c < source.captions().size(); c++) {
                captionLines.append(bulkLine(source.captionIndex(), "caption-" + c, "caption", source.captions().get(c)));
            }
            bulk(captionLines.toString(), source.model() + "-captions");
        }
    }

    public void testABlipCaptionDocumentStoresItsTokenIds() throws IOException {
        Source blip = sources.get("blip-tiny");
        ModelBundle bundle = ModelBundle.load(bundlesDir().resolve(blip.model()));
        for (int c = 0; c < blip.captions().size(); c++) {
            ObjectPath doc = ObjectPath.createFromResponse(
                getRestClient().performRequest(new Request("GET", "/" + blip.captionIndex() + "/_doc/caption-" + c)));
            byte[] blob = Base64.getDecoder().decode((String) doc.evaluate("_source.text_features"));
            assertArrayEquals("caption [" + c + "]", blip.captionIds()[c], TokenIdsCodec.decode(blob, bundle.tokenIdLimits()));
        }
    }

    public void testTextToImageFollowsTheSourceModelsScores() throws IOException {
        for (Source source : sources.values()) {
            for (int c = 0; c < source.captions().size(); c++) {
                int caption = c;
                String text = "\"text\": " + quote(source.captions().get(c));
                String knn = knn(source.model(), "image_vector", source.images().size(), "fuserank_text", text);
                assertFollowsSourceScores(source, source.model() + ", caption [" + c + "]", source.imageIndex(), knn, text, "image-",
                    source.images().size(), i -> source.itm()[i][caption], i -> source.itc()[i][caption]);
            }
        }
    }

    public void testImageToTextFollowsTheSourceModelsScores() throws IOException {
        for (Source source : sources.values()) {
            for (int i = 0; i < source.images().size(); i++) {
                int image = i;
                String query = "\"image\": " + quote(Base64.getEncoder().encodeToString(source.images().get(i)));
                String knn = knn(source.model(), "text_vector", source.captions().size(), "fuserank_image", query);
                assertFollowsSourceScores(source, source.model() + ", image [" + i + "]", source.captionIndex(), knn, query, "caption-",
                    source.captions().size(), c -> source.itm()[image][c], c -> source.itc()[image][c]);
            }
        }
    }

    private interface SourceScore {
        float of(int candidate);
    }

    /**
     * Every candidate is retrieved and in the window, so the order is the rescorer's alone: by the ITM
     * logit for {@code itm}, by ITM logit + ITC similarity for {@code itm_plus_itc} with
     * {@code itc_weight} 1 (BLIP's retrieval score), and by the model's own mode and weight for a
     * request that names neither.
     */
    private void assertFollowsSourceScores(Source source, String what, String index, String knn, String query, String prefix, int count,
                                           SourceScore itmOf, SourceScore itcOf) throws IOException {
        for (ScoreMode mode : new ScoreMode[] {ScoreMode.ITM, ScoreMode.ITM_PLUS_ITC, null}) {
            ScoreMode effective = mode != null ? mode : source.defaults().mode();
            float weight = mode != null ? 1f : source.defaults().itcWeight();
            SourceScore expected = effective == ScoreMode.ITM ? itmOf : j -> itmOf.of(j) + weight * itcOf.of(j);
            String options = mode == null ? "" : mode == ScoreMode.ITM ? ", \"score_mode\": \"itm\""
                : ", \"score_mode\": \"itm_plus_itc\", \"itc_weight\": 1";
            String body = String.format(Locale.ROOT, """
                {"size": %d, "knn": %s,
                 "rescore": {"window_size": %d, "fuserank_itm": {"model_id": "%s", %s%s}}}""",
                count, knn, count, source.model(), query, options);
            assertEquals(what + ", " + (mode == null ? "the model's " + effective.label() : mode.label()),
                expectedOrder(prefix, count, expected), ids(search(index, body)));
        }
    }

    /** Candidate ids by the source model's score, best first. */
    private static List<String> expectedOrder(String prefix, int count, SourceScore score) {
        return IntStream.range(0, count).boxed()
            .sorted(Comparator.comparingDouble((Integer j) -> score.of(j)).reversed())
            .map(j -> prefix + j)
            .toList();
    }

    private static String knn(String model, String field, int k, String builder, String query) {
        return String.format(Locale.ROOT, """
            {"field": "%s", "k": %d, "num_candidates": %d, "query_vector_builder": {"%s": {"model_id": "%s", %s}}}""",
            field, k, k, builder, model, query);
    }

    private void pipeline(String id, String model, String sourceOption, String sourceField) throws IOException {
        Request request = new Request("PUT", "/_ingest/pipeline/" + id);
        request.setJsonEntity(String.format(Locale.ROOT, """
            {"processors": [{"fuserank": {"model_id": "%s", "%s": "%s", "codec": "fp32"}}]}""", model, sourceOption, sourceField));
        getRestClient().performRequest(request);
    }

    private void index(String index, String sourceField, String sourceType, String vectorField, String featuresField, int dims)
        throws IOException {
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
        SearchTestRequests.bulk(getRestClient(), body, pipeline);
    }

    private static ObjectPath search(String index, String body) throws IOException {
        return SearchTestRequests.search(getRestClient(), index, body);
    }

    private static float[] floats(Path file, int count) throws IOException {
        float[] out = new float[count];
        littleEndian(file, count * 4L).asFloatBuffer().get(out);
        return out;
    }

    private static long[] longs(Path file, int count) throws IOException {
        long[] out = new long[count];
        littleEndian(file, count * 8L).asLongBuffer().get(out);
        return out;
    }

    /** A reference array file, checked to hold exactly {@code bytes}. */
    private static ByteBuffer littleEndian(Path file, long bytes) throws IOException {
        ByteBuffer buffer = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(file + " size", bytes, buffer.capacity());
        return buffer;
    }
}
