package io.fuserank.plugin.ingest;

import io.fuserank.encoder.Encoding;
import io.fuserank.encoder.FeatureCodec;
import io.fuserank.encoder.TokenFeatures;
import io.fuserank.plugin.action.EncodeRequest;
import io.fuserank.plugin.action.EncodeResponse;
import io.fuserank.plugin.query.QueryTestSupport;
import org.elasticsearch.ResourceNotFoundException;
import org.elasticsearch.action.ActionListener;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.common.util.concurrent.ThreadContext;
import org.elasticsearch.ingest.IngestDocument;
import org.elasticsearch.ingest.TestIngestDocument;
import org.elasticsearch.test.ESTestCase;

import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiConsumer;

import static org.hamcrest.Matchers.startsWith;

/** What the processor reads, writes and fails with, against an encoder that answers at once. */
public class FuseRankProcessorTests extends ESTestCase {

    private static final TokenFeatures FEATURES = new TokenFeatures(1, 2, 3, new float[] {1, -2, 3, 0.5f, 0, -1});
    private static final float[] EMBEDDING = {0.6f, 0.8f};

    private final List<EncodeRequest> requests = new ArrayList<>();
    private BiConsumer<EncodeRequest, ActionListener<EncodeResponse>> answer = (request, listener) -> listener.onResponse(
        new EncodeResponse(request.inputs().stream().map(i -> EncodeResponse.Result.ok(new Encoding(EMBEDDING, FEATURES))).toList(),
            QueryTestSupport.featuresStored(FeatureCodec.FP16), QueryTestSupport.rerank(1f)));

    private FuseRankProcessor processor(Map<String, Object> options) {
        FuseRankProcessorFactory factory = new FuseRankProcessorFactory((request, listener) -> {
            requests.add(request);
            answer.accept(request, listener);
        }, new ThreadContext(Settings.EMPTY));
        Map<String, Object> config = new HashMap<>(options);
        config.putIfAbsent("model_id", "m");
        return factory.create(Map.of(), null, null, config, null);
    }

    /** Runs the processor; returns the document it passed on, or throws what it failed with. */
    private static IngestDocument run(FuseRankProcessor processor, IngestDocument document) throws Exception {
        List<IngestDocument> passed = new ArrayList<>();
        List<Exception> failed = new ArrayList<>();
        processor.execute(document, (doc, e) -> {
            if (e != null) {
                failed.add(e);
            } else {
                passed.add(doc);
            }
        });
        assertEquals("the handler is called exactly once", 1, passed.size() + failed.size());
        if (failed.isEmpty() == false) {
            throw failed.get(0);
        }
        return passed.get(0);
    }

    private static IngestDocument document(Map<String, Object> source) {
        return TestIngestDocument.withDefaultVersion(new HashMap<>(source));
    }

    public void testImageDocumentGetsVectorAndManifestCodecBlob() throws Exception {
        byte[] image = randomByteArrayOfLength(40);
        IngestDocument doc = run(processor(Map.of("image_field", "image")),
            document(Map.of("image", Base64.getEncoder().encodeToString(image), "title", "kept")));
        assertArrayEquals(image, requests.get(0).inputs().get(0).image());
        assertEquals(List.of(0.6f, 0.8f), doc.getFieldValue("image_vector", List.class));
        byte[] blob = Base64.getDecoder().decode(doc.getFieldValue("image_features", String.class));
        assertEquals("the codec the model's manifest names", FeatureCodec.FP16, FeatureCodec.header(blob).codec());
        assertArrayEquals(FEATURES.values(), FeatureCodec.decode(blob).values(), 1e-3f);
        assertEquals("kept", doc.getFieldValue("title", String.class));
        assertTrue("the input stays", doc.hasField("image"));
    }

    public void testConfiguredCodecAndTargetFields() throws Exception {
        IngestDocument doc = run(processor(Map.of("text_field", "caption", "codec", "fp32", "vector_field", "v.emb",
            "features_field", "v.feat")), document(Map.of("caption", "a red circle")));
        assertEquals("a red circle", requests.get(0).inputs().get(0).text());
        byte[] blob = Base64.getDecoder().decode(doc.getFieldValue("v.feat", String.class));
        assertEquals(FeatureCodec.FP32, FeatureCodec.header(blob).codec());
        assertEquals(2, doc.getFieldValue("v.emb", List.class).size());
    }

    public void testRawBytesFromBinarySourceFormatsAreTakenAsTheImage() throws Exception {
        byte[] image = randomByteArrayOfLength(8);
        run(processor(Map.of("image_field", "image")), document(Map.of("image", image)));
        assertArrayEquals(image, requests.get(0).inputs().get(0).image());
    }

    public void testBadBase64FailsWithoutAnEncoderCall() {
        Exception e = expectThrows(IllegalArgumentException.class,
            () -> run(processor(Map.of("image_field", "image")), document(Map.of("image", "not base64!"))));
        assertThat(e.getMessage(), startsWith("field [image] is not valid base64: "));
        assertTrue(requests.isEmpty());
    }

    public void testWrongValueTypes() {
        assertEquals("field [image] must be a base64 string of an image file, got [Integer]", expectThrows(
            IllegalArgumentException.class, () -> run(processor(Map.of("image_field", "image")), document(Map.of("image", 7))))
            .getMessage());
        assertEquals("field [caption] must be a string, got [ArrayList]", expectThrows(IllegalArgumentException.class,
            () -> run(processor(Map.of("text_field", "caption")), document(Map.of("caption", new ArrayList<>(List.of("a"))))))
            .getMessage());
    }

    public void testMissingFieldFailsUnlessIgnored() throws Exception {
        Exception e = expectThrows(IllegalArgumentException.class,
            () -> run(processor(Map.of("image_field", "image")), document(Map.of("title", "no image"))));
        assertEquals("field [image] not present as part of path [image]", e.getMessage());
        IngestDocument doc = document(Map.of("title", "no image"));
        Map<String, Object> before = new HashMap<>(doc.getSource());
        assertEquals(before, run(processor(Map.of("image_field", "image", "ignore_missing", true)), doc).getSource());
        assertTrue(requests.isEmpty());
    }

    public void testNullFieldFailsUnlessIgnored() throws Exception {
        Map<String, Object> source = new HashMap<>();
        source.put("image", null);
        assertEquals("field [image] is null, cannot encode it", expectThrows(IllegalArgumentException.class,
            () -> run(processor(Map.of("image_field", "image")), document(source))).getMessage());
        run(processor(Map.of("image_field", "image", "ignore_missing", true)), document(source));
        assertTrue(requests.isEmpty());
    }

    public void testAnInputTheModelRejectsFailsWithTheFieldAndTheReason() {
        answer = (request, listener) -> listener.onResponse(new EncodeResponse(
            List.of(EncodeResponse.Result.invalid("unsupported image format")), QueryTestSupport.featuresStored(FeatureCodec.INT8), QueryTestSupport.rerank(1f)));
        Exception e = expectThrows(IllegalArgumentException.class, () -> run(processor(Map.of("image_field", "image")),
            document(Map.of("image", Base64.getEncoder().encodeToString(new byte[] {1, 2, 3})))));
        assertEquals("field [image] cannot be encoded by model [m]: unsupported image format", e.getMessage());
    }

    public void testAFailedCallFailsTheDocumentWithItsException() {
        ResourceNotFoundException notFound = new ResourceNotFoundException("model [m] not found");
        answer = (request, listener) -> listener.onFailure(notFound);
        Exception e = expectThrows(ResourceNotFoundException.class,
            () -> run(processor(Map.of("text_field", "caption")), document(Map.of("caption", "a cat"))));
        assertSame(notFound, e);
    }

    public void testTheSynchronousExecuteIsNotUsed() {
        expectThrows(UnsupportedOperationException.class,
            () -> processor(Map.of("text_field", "caption")).execute(document(Map.of("caption", "x"))));
    }
}
