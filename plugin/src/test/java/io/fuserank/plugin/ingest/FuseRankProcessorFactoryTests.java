package io.fuserank.plugin.ingest;

import io.fuserank.encoder.FeatureCodec;
import org.elasticsearch.ElasticsearchParseException;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.common.util.concurrent.ThreadContext;
import org.elasticsearch.test.ESTestCase;

import java.util.HashMap;
import java.util.Map;

import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.nullValue;
import static org.hamcrest.Matchers.sameInstance;

/** Option parsing: defaults, required and exclusive options, and errors that name the offending values. */
public class FuseRankProcessorFactoryTests extends ESTestCase {

    private final FuseRankProcessorFactory factory = new FuseRankProcessorFactory(
        (request, listener) -> fail("creating a processor must not encode"),
        new ThreadContext(Settings.EMPTY));

    private FuseRankProcessor create(Map<String, Object> options) {
        return factory.create(Map.of(), "tag", null, new HashMap<>(options), null);
    }

    private ElasticsearchParseException fails(Map<String, Object> options) {
        return expectThrows(ElasticsearchParseException.class, () -> create(options));
    }

    public void testImageDocumentDefaults() {
        FuseRankProcessor processor = create(Map.of("model_id", "fuserank-small", "image_field", "photo"));
        assertEquals("fuserank", processor.getType());
        assertTrue(processor.isAsync());
        assertEquals("fuserank-small", processor.modelId());
        assertEquals(DocumentKind.IMAGE, processor.kind());
        assertEquals("photo", processor.sourceField());
        assertEquals("image_vector", processor.vectorField());
        assertEquals("image_features", processor.featuresField());
        assertThat("absent codec means the manifest's", processor.codec(), nullValue());
        assertFalse(processor.ignoreMissing());
    }

    public void testCaptionDocumentWithEveryOption() {
        FuseRankProcessor processor = create(Map.of("model_id", "fuserank-small", "text_field", "caption", "vector_field", "v",
            "features_field", "f", "codec", "fp16", "ignore_missing", true));
        assertEquals(DocumentKind.TEXT, processor.kind());
        assertEquals("caption", processor.sourceField());
        assertEquals("v", processor.vectorField());
        assertEquals("f", processor.featuresField());
        assertEquals(FeatureCodec.FP16, processor.codec());
        assertTrue(processor.ignoreMissing());
    }

    public void testTextDefaults() {
        FuseRankProcessor processor = create(Map.of("model_id", "m", "text_field", "caption"));
        assertEquals("text_vector", processor.vectorField());
        assertEquals("text_features", processor.featuresField());
    }

    public void testModelIdIsRequired() {
        assertThat(fails(Map.of("image_field", "image")).getMessage(), containsString("[model_id] required property is missing"));
    }

    public void testModelIdIsValidated() {
        assertThat(fails(Map.of("model_id", "../etc", "image_field", "image")).getMessage(), containsString("model_id [../etc]"));
    }

    public void testOneOfImageOrTextFieldIsRequired() {
        assertThat(fails(Map.of("model_id", "m")).getMessage(),
            containsString("one of [image_field] (an image document) or [text_field] (a caption document) is required"));
    }

    public void testImageAndTextFieldAreExclusive() {
        assertThat(fails(Map.of("model_id", "m", "image_field", "image", "text_field", "caption")).getMessage(),
            containsString("only one of [image_field] and [text_field] can be set (a document is an image or a caption), got [image]"
                + " and [caption]"));
    }

    public void testUnknownOptionsAreListedWithTheValidOnes() {
        ElasticsearchParseException e = fails(Map.of("model_id", "m", "imagefield", "image", "batch", 3));
        assertThat(e.getMessage(), containsString("unknown options [batch, imagefield]; valid options: [model_id, image_field, "
            + "text_field, vector_field, features_field, codec, ignore_missing]"));
    }

    public void testBadCodecListsTheValidOnes() {
        assertThat(fails(Map.of("model_id", "m", "image_field", "image", "codec", "bf16")).getMessage(),
            containsString("unknown feature codec [bf16], valid: [fp32, fp16, int8]"));
    }

    public void testTargetFieldsMustDiffer() {
        assertThat(fails(Map.of("model_id", "m", "image_field", "image", "vector_field", "x", "features_field", "x")).getMessage(),
            containsString("[vector_field] and [features_field] must differ, both are [x]"));
        assertThat(fails(Map.of("model_id", "m", "text_field", "text_vector")).getMessage(),
            containsString("[text_field] [text_vector] must differ from [vector_field] [text_vector]"));
    }

    public void testIgnoreMissingMustBeABoolean() {
        assertThat(fails(Map.of("model_id", "m", "image_field", "image", "ignore_missing", "maybe")).getMessage(),
            containsString("ignore_missing"));
    }

    public void testProcessorsOfOneModelShareABatcher() {
        FuseRankProcessor images = create(Map.of("model_id", "m", "image_field", "image"));
        FuseRankProcessor captions = create(Map.of("model_id", "m", "text_field", "caption"));
        FuseRankProcessor other = create(Map.of("model_id", "other", "image_field", "image"));
        assertThat(images.batcher(), sameInstance(captions.batcher()));
        assertNotSame(images.batcher(), other.batcher());
    }
}
