package io.fuserank.plugin.ingest;

import io.fuserank.encoder.Encoding;
import io.fuserank.encoder.FeatureCodec;
import io.fuserank.encoder.ImageEncoder;
import io.fuserank.encoder.ImagePreprocessor;
import io.fuserank.encoder.InferenceOptions;
import io.fuserank.encoder.ModelBundle;
import io.fuserank.encoder.TextEncoder;
import io.fuserank.encoder.TextTokenizer;
import io.fuserank.encoder.TokenFeatures;
import io.fuserank.plugin.FuseRankPlugin;
import io.fuserank.plugin.model.ModelRegistry;
import org.elasticsearch.action.admin.indices.template.put.TransportPutComposableIndexTemplateAction;
import org.elasticsearch.action.bulk.BulkItemResponse;
import org.elasticsearch.action.bulk.BulkRequestBuilder;
import org.elasticsearch.action.bulk.BulkResponse;
import org.elasticsearch.action.index.IndexRequest;
import org.elasticsearch.action.support.WriteRequest;
import org.elasticsearch.cluster.metadata.ComposableIndexTemplate;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.common.xcontent.XContentHelper;
import org.elasticsearch.index.query.QueryBuilders;
import org.elasticsearch.ingest.AbstractProcessor;
import org.elasticsearch.ingest.IngestDocument;
import org.elasticsearch.ingest.Processor;
import org.elasticsearch.plugins.IngestPlugin;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.search.SearchHit;
import org.elasticsearch.test.ESSingleNodeTestCase;
import org.elasticsearch.xcontent.XContentParser;
import org.elasticsearch.xcontent.XContentParserConfiguration;
import org.elasticsearch.xcontent.json.JsonXContent;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.elasticsearch.test.hamcrest.ElasticsearchAssertions.assertHitCount;
import static org.elasticsearch.test.hamcrest.ElasticsearchAssertions.assertResponse;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.lessThan;

/**
 * The processor in a real node, through the documented mappings and pipelines of
 * {@code example-queries/mappings/} (so the documentation is what is tested): vectors equal to
 * the encoders run directly, feature blobs in doc values and not in {@code _source}, per-document
 * failures in a bulk request, {@code on_failure}, the index template, and batching.
 */
public class FuseRankIngestTests extends ESSingleNodeTestCase {

    private static final String MODEL = "fuserank-small";
    private static final Path REPOSITORY = Path.of("..").toAbsolutePath().normalize();
    private static final Path MODEL_DIR = REPOSITORY.resolve("models").resolve(MODEL);
    private static final Path MAPPINGS = REPOSITORY.resolve("example-queries").resolve("mappings");
    private static final List<String> IMAGE_IDS = List.of("00", "01", "02", "03");

    /** A test-only processor that records the failure {@code on_failure} handles, so the test can read its message. */
    public static class RecordFailurePlugin extends Plugin implements IngestPlugin {
        @Override
        public Map<String, Processor.Factory> getProcessors(Processor.Parameters parameters) {
            return Map.of("record_failure", (registry, tag, description, config, projectId) -> new AbstractProcessor(tag, description) {
                @Override
                public IngestDocument execute(IngestDocument document) {
                    document.setFieldValue("encode_error", document.getIngestMetadata().get("on_failure_message"));
                    return document;
                }

                @Override
                public String getType() {
                    return "record_failure";
                }
            });
        }
    }

    @Override
    protected Collection<Class<? extends Plugin>> getPlugins() {
        return List.of(FuseRankPlugin.class, RecordFailurePlugin.class);
    }

    @Override
    protected Settings nodeSettings() {
        return Settings.builder().put(super.nodeSettings()).put("fuserank.models.path", REPOSITORY.resolve("models").toString()).build();
    }

    private static String mappingFile(String name) throws IOException {
        return Files.readString(MAPPINGS.resolve(name));
    }

    private static Map<String, Object> jsonMap(String json) {
        return XContentHelper.convertToMap(JsonXContent.jsonXContent, json, false);
    }

    /** Creates an index from a create-index body as the REST API takes it (the Java request wants the mappings on their own). */
    @SuppressWarnings("unchecked")
    private void createIndexFrom(String index, Map<String, Object> body) {
        assertEquals("the documented index bodies hold mappings only", List.of("mappings"), List.copyOf(body.keySet()));
        assertTrue(indicesAdmin().prepareCreate(index).setMapping((Map<String, Object>) body.get("mappings")).get().isAcknowledged());
    }

    private static byte[] referenceImage(String id) throws IOException {
        return Files.readAllBytes(MODEL_DIR.resolve("reference").resolve("images").resolve(id + ".png"));
    }

    @SuppressWarnings("unchecked")
    private static List<String> referenceCaptions() throws IOException {
        return (List<String>) jsonMap(Files.readString(MODEL_DIR.resolve("reference").resolve("reference.json"))).get("captions");
    }

    private static String base64(byte[] bytes) {
        return Base64.getEncoder().encodeToString(bytes);
    }

    private static float[] floats(SearchHit hit, String field) {
        List<Object> values = hit.field(field).getValues();
        float[] out = new float[values.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = ((Number) values.get(i)).floatValue();
        }
        return out;
    }

    private static byte[] docValueBlob(SearchHit hit, String field) {
        List<Object> values = hit.field(field).getValues();
        assertEquals("one blob per document", 1, values.size());
        return Base64.getDecoder().decode((String) values.get(0));
    }

    /** The stored blob decodes to the directly computed features, within one int8 step of each token's scale. */
    private static void assertSameFeatures(TokenFeatures expected, byte[] blob) {
        FeatureCodec.Header header = FeatureCodec.header(blob);
        assertEquals("the manifest's codec", FeatureCodec.INT8, header.codec());
        TokenFeatures stored = FeatureCodec.decode(blob);
        assertEquals(expected.tokens(), stored.tokens());
        assertEquals(expected.width(), stored.width());
        for (int row = 0; row < expected.tokens(); row++) {
            float max = 0f;
            for (int c = 0; c < expected.width(); c++) {
                max = Math.max(max, Math.abs(expected.get(0, row, c)));
            }
            for (int c = 0; c < expected.width(); c++) {
                assertEquals(expected.get(0, row, c), stored.get(0, row, c), max / 127f + 1e-5f);
            }
        }
    }

    private static Map<String, BulkItemResponse> byId(BulkResponse response) {
        Map<String, BulkItemResponse> items = new HashMap<>();
        for (BulkItemResponse item : response.getItems()) {
            items.put(item.getId(), item);
        }
        return items;
    }

    public void testImageDocumentsThroughTheDocumentedMappingAndPipeline() throws Exception {
        createIndexFrom("images", jsonMap(mappingFile("image-index.json")));
        putJsonPipeline("fuserank-images", mappingFile("ingest-pipeline.json"));
        BulkRequestBuilder bulk = client().prepareBulk().setRefreshPolicy(WriteRequest.RefreshPolicy.IMMEDIATE);
        for (String id : IMAGE_IDS) {
            bulk.add(new IndexRequest("images").id(id).source(Map.of("image", base64(referenceImage(id)))).setPipeline("fuserank-images"));
        }
        bulk.add(new IndexRequest("images").id("bad-base64").source(Map.of("image", "this is not base64!")).setPipeline("fuserank-images"));
        bulk.add(new IndexRequest("images").id("noise").source(Map.of("image", base64(randomByteArrayOfLength(512))))
            .setPipeline("fuserank-images"));
        Map<String, BulkItemResponse> items = byId(bulk.get());

        for (String id : IMAGE_IDS) {
            assertFalse(id + ": " + items.get(id).getFailureMessage(), items.get(id).isFailed());
        }
        assertTrue(items.get("bad-base64").isFailed());
        assertThat(items.get("bad-base64").getFailureMessage(), containsString("field [image] is not valid base64: "));
        assertTrue(items.get("noise").isFailed());
        assertThat(items.get("noise").getFailureMessage(), containsString("field [image] cannot be encoded by model [fuserank-small]: "));

        Map<String, Encoding> direct = new HashMap<>();
        ModelBundle bundle = ModelBundle.load(MODEL_DIR);
        ImagePreprocessor preprocessor = ImagePreprocessor.fromManifest(bundle.manifest().get("image"), ImagePreprocessor.Limits.DEFAULT);
        try (ImageEncoder images = new ImageEncoder(bundle, preprocessor, InferenceOptions.cpu(1))) {
            for (String id : IMAGE_IDS) {
                direct.put(id, images.encode(List.of(referenceImage(id))).get(0));
            }
        }
        assertHitCount(client().prepareSearch("images").setQuery(QueryBuilders.existsQuery("image_features")), IMAGE_IDS.size());
        assertResponse(client().prepareSearch("images").setSize(10).addFetchField("image_vector").addDocValueField("image_features"), r -> {
            assertEquals(IMAGE_IDS.size(), r.getHits().getHits().length);
            for (SearchHit hit : r.getHits().getHits()) {
                Encoding expected = direct.get(hit.getId());
                assertArrayEquals(hit.getId(), expected.embedding(), floats(hit, "image_vector"), 1e-5f);
                assertSameFeatures(expected.tokenFeatures(), docValueBlob(hit, "image_features"));
                Map<String, Object> source = hit.getSourceAsMap();
                assertFalse("features live in doc values only: " + source.keySet(), source.containsKey("image_features"));
                assertTrue("the input stays in _source", source.containsKey("image"));
            }
        });
    }

    public void testCaptionDocumentsThroughTheDocumentedMappingAndPipeline() throws Exception {
        createIndexFrom("captions", jsonMap(mappingFile("caption-index.json")));
        putJsonPipeline("fuserank-captions", mappingFile("caption-ingest-pipeline.json"));
        List<String> captions = referenceCaptions();
        BulkRequestBuilder bulk = client().prepareBulk().setRefreshPolicy(WriteRequest.RefreshPolicy.IMMEDIATE);
        for (int i = 0; i < captions.size(); i++) {
            bulk.add(new IndexRequest("captions").id("c" + i).source(Map.of("caption", captions.get(i))).setPipeline("fuserank-captions"));
        }
        bulk.add(new IndexRequest("captions").id("empty").source(Map.of("caption", "")).setPipeline("fuserank-captions"));
        Map<String, BulkItemResponse> items = byId(bulk.get());
        assertTrue(items.get("empty").isFailed());
        assertThat(items.get("empty").getFailureMessage(), containsString("field [caption] cannot be encoded by model [fuserank-small]: "));

        Map<String, Encoding> direct = new HashMap<>();
        ModelBundle bundle = ModelBundle.load(MODEL_DIR);
        try (TextTokenizer tokenizer = TextTokenizer.forBundle(bundle);
             TextEncoder texts = new TextEncoder(bundle, tokenizer, InferenceOptions.cpu(1))) {
            for (int i = 0; i < captions.size(); i++) {
                direct.put("c" + i, texts.encode(captions.get(i)));
            }
        }
        assertHitCount(client().prepareSearch("captions").setQuery(QueryBuilders.existsQuery("text_features")), captions.size());
        assertResponse(client().prepareSearch("captions").setSize(10).addFetchField("text_vector").addDocValueField("text_features"), r -> {
            assertEquals(captions.size(), r.getHits().getHits().length);
            for (SearchHit hit : r.getHits().getHits()) {
                Encoding expected = direct.get(hit.getId());
                assertArrayEquals(hit.getId(), expected.embedding(), floats(hit, "text_vector"), 1e-5f);
                assertSameFeatures(expected.tokenFeatures(), docValueBlob(hit, "text_features"));
                assertFalse(hit.getSourceAsMap().containsKey("text_features"));
            }
        });
    }

    public void testOnFailureHandlesADocumentThatCannotBeEncoded() throws Exception {
        createIndexFrom("images-on-failure", jsonMap(mappingFile("image-index.json")));
        putJsonPipeline("with-on-failure", """
            {"processors": [{"fuserank": {"model_id": "fuserank-small", "image_field": "image",
              "on_failure": [{"record_failure": {}}]}}]}""");
        BulkResponse response = client().prepareBulk().setRefreshPolicy(WriteRequest.RefreshPolicy.IMMEDIATE)
            .add(new IndexRequest("images-on-failure").id("bad").source(Map.of("image", "%%%")).setPipeline("with-on-failure"))
            .add(new IndexRequest("images-on-failure").id("good").source(Map.of("image", base64(referenceImage("00"))))
                .setPipeline("with-on-failure"))
            .get();
        assertFalse(response.buildFailureMessage(), response.hasFailures());
        assertResponse(client().prepareSearch("images-on-failure").setQuery(QueryBuilders.idsQuery().addIds("bad")), r -> {
            Map<String, Object> source = r.getHits().getAt(0).getSourceAsMap();
            assertThat((String) source.get("encode_error"), containsString("field [image] is not valid base64: "));
            assertFalse(source.containsKey("image_vector"));
        });
        assertHitCount(client().prepareSearch("images-on-failure").setQuery(QueryBuilders.existsQuery("image_features")), 1);
    }

    public void testIgnoreMissingPassesADocumentWithoutTheField() throws Exception {
        createIndexFrom("images-optional", jsonMap(mappingFile("image-index.json")));
        putJsonPipeline("optional-image", """
            {"processors": [{"fuserank": {"model_id": "fuserank-small", "image_field": "image", "ignore_missing": true}}]}""");
        putJsonPipeline("required-image", """
            {"processors": [{"fuserank": {"model_id": "fuserank-small", "image_field": "image"}}]}""");
        Map<String, BulkItemResponse> items = byId(client().prepareBulk().setRefreshPolicy(WriteRequest.RefreshPolicy.IMMEDIATE)
            .add(new IndexRequest("images-optional").id("ignored").source(Map.of("title", "no image")).setPipeline("optional-image"))
            .add(new IndexRequest("images-optional").id("required").source(Map.of("title", "no image")).setPipeline("required-image"))
            .get());
        assertFalse(items.get("ignored").isFailed());
        assertThat(items.get("required").getFailureMessage(), containsString("field [image] not present as part of path [image]"));
        assertResponse(client().prepareSearch("images-optional"), r -> assertEquals(Map.of("title", "no image"),
            r.getHits().getAt(0).getSourceAsMap()));
    }

    public void testAnUnknownModelFailsEveryDocumentThatUsesIt() throws Exception {
        putJsonPipeline("no-such-model", """
            {"processors": [{"fuserank": {"model_id": "no-such-model", "text_field": "caption"}}]}""");
        BulkResponse response = client().prepareBulk()
            .add(new IndexRequest("unknown-model").id("a").source(Map.of("caption", "a red circle")).setPipeline("no-such-model"))
            .add(new IndexRequest("unknown-model").id("b").source(Map.of("caption", "a blue square")).setPipeline("no-such-model"))
            .get();
        for (BulkItemResponse item : response.getItems()) {
            assertThat(item.getFailureMessage(), containsString("model [no-such-model] not found"));
        }
    }

    public void testABulkRequestReachesTheEncoderInFewerCallsThanDocuments() throws Exception {
        createIndexFrom("images-batched", jsonMap(mappingFile("image-index.json")));
        putJsonPipeline("fuserank-images", mappingFile("ingest-pipeline.json"));
        ModelRegistry registry = getInstanceFromNode(ModelRegistry.class);
        long callsBefore = registry.get(MODEL).stats().calls();
        int documents = 20;
        BulkRequestBuilder bulk = client().prepareBulk();
        for (int i = 0; i < documents; i++) {
            bulk.add(new IndexRequest("images-batched").source(Map.of("image", base64(referenceImage(IMAGE_IDS.get(i % 4)))))
                .setPipeline("fuserank-images"));
        }
        BulkResponse response = bulk.get();
        assertFalse(response.buildFailureMessage(), response.hasFailures());
        long calls = registry.get(MODEL).stats().calls() - callsBefore;
        logger.info("a bulk request of [{}] documents took [{}] encoder calls", documents, calls);
        assertThat(calls, lessThan((long) documents));
    }

    public void testTheIndexTemplateAppliesTheMappingAndThePipeline() throws Exception {
        putJsonPipeline("fuserank-images", mappingFile("ingest-pipeline.json"));
        ComposableIndexTemplate template;
        try (XContentParser parser = JsonXContent.jsonXContent.createParser(XContentParserConfiguration.EMPTY,
            mappingFile("image-index-template.json"))) {
            template = ComposableIndexTemplate.parse(parser);
        }
        client().execute(TransportPutComposableIndexTemplateAction.TYPE,
            new TransportPutComposableIndexTemplateAction.Request("fuserank-images").indexTemplate(template)).get();
        BulkResponse response = client().prepareBulk().setRefreshPolicy(WriteRequest.RefreshPolicy.IMMEDIATE)
            .add(new IndexRequest("images-2026").id("00").source(Map.of("image", base64(referenceImage("00")), "title", "first")))
            .get();
        assertFalse(response.buildFailureMessage(), response.hasFailures());
        assertHitCount(client().prepareSearch("images-2026").setQuery(QueryBuilders.existsQuery("image_features")), 1);

        client().prepareUpdate("images-2026", "00").setDoc(Map.of("title", "updated"))
            .setRefreshPolicy(WriteRequest.RefreshPolicy.IMMEDIATE).get();
        assertHitCount(client().prepareSearch("images-2026").setQuery(QueryBuilders.existsQuery("image_features")), 1);
    }

    /**
     * A partial update rebuilds the document from {@code _source}, which lacks the features: the
     * template's {@code default_pipeline} encodes it again, an update without the pipeline loses them.
     */
    public void testAPartialUpdateWithoutThePipelineLosesTheFeatures() throws Exception {
        createIndexFrom("images-updated", jsonMap(mappingFile("image-index.json")));
        putJsonPipeline("fuserank-images", mappingFile("ingest-pipeline.json"));
        client().prepareBulk().setRefreshPolicy(WriteRequest.RefreshPolicy.IMMEDIATE)
            .add(new IndexRequest("images-updated").id("00").source(Map.of("image", base64(referenceImage("00"))))
                .setPipeline("fuserank-images"))
            .get();
        assertHitCount(client().prepareSearch("images-updated").setQuery(QueryBuilders.existsQuery("image_features")), 1);
        client().prepareUpdate("images-updated", "00").setDoc(Map.of("title", "updated"))
            .setRefreshPolicy(WriteRequest.RefreshPolicy.IMMEDIATE).get();
        assertHitCount(client().prepareSearch("images-updated").setQuery(QueryBuilders.existsQuery("image_features")), 0);
    }

    @SuppressWarnings("unchecked")
    public void testTheDocumentedIndexOptionsAreAccepted() throws Exception {
        for (Map<String, Object> options : List.<Map<String, Object>>of(Map.of("type", "hnsw", "m", 32, "ef_construction", 200),
            Map.of("type", "int8_hnsw"), Map.of("type", "bbq_hnsw"))) {
            Map<String, Object> index = jsonMap(mappingFile("image-index.json"));
            Map<String, Object> vector = (Map<String, Object>) ((Map<String, Object>) ((Map<String, Object>) index.get("mappings"))
                .get("properties")).get("image_vector");
            vector.put("index_options", options);
            String name = "images-" + options.get("type");
            createIndexFrom(name, index);
        }
        Map<String, Object> index = jsonMap(mappingFile("image-index.json"));
        Map<String, Object> vector = (Map<String, Object>) ((Map<String, Object>) ((Map<String, Object>) index.get("mappings"))
            .get("properties")).get("image_vector");
        vector.put("dims", 32);
        vector.put("index_options", Map.of("type", "bbq_hnsw"));
        Exception e = expectThrows(Exception.class, () -> createIndexFrom("images-bbq-small", index));
        assertThat(e.getMessage() + " / " + (e.getCause() == null ? "" : e.getCause().getMessage()),
            containsString("does not support dimensions fewer than 64"));
    }
}
