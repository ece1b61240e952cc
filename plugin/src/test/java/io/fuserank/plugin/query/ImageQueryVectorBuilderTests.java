package io.fuserank.plugin.query;

import io.fuserank.encoder.Encoding;
import io.fuserank.encoder.FeatureCodec;
import io.fuserank.encoder.TokenFeatures;
import io.fuserank.plugin.FuseRankPlugin;
import io.fuserank.plugin.action.EncodeRequest;
import io.fuserank.plugin.action.EncodeResponse;
import org.elasticsearch.action.ActionRequest;
import org.elasticsearch.action.ActionResponse;
import org.elasticsearch.common.ParsingException;
import org.elasticsearch.common.io.stream.Writeable;
import org.elasticsearch.plugins.SearchPlugin;
import org.elasticsearch.test.AbstractQueryVectorBuilderTestCase;
import org.elasticsearch.xcontent.XContentParseException;
import org.elasticsearch.xcontent.XContentParser;
import org.elasticsearch.xcontent.json.JsonXContent;

import java.io.IOException;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutionException;

import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.instanceOf;

/** Wire and xContent round trips of {@code fuserank_image}, inside {@code knn} too, and its client call and error paths. */
public class ImageQueryVectorBuilderTests extends AbstractQueryVectorBuilderTestCase<ImageQueryVectorBuilder> {

    @Override
    protected List<SearchPlugin> additionalPlugins() {
        return List.of(new FuseRankPlugin());
    }

    @Override
    protected ImageQueryVectorBuilder createTestInstance() {
        return new ImageQueryVectorBuilder(QueryTestSupport.randomModelId(), randomByteArrayOfLength(randomIntBetween(1, 64)));
    }

    @Override
    protected ImageQueryVectorBuilder mutateInstance(ImageQueryVectorBuilder instance) {
        if (randomBoolean()) {
            return new ImageQueryVectorBuilder(randomValueOtherThan(instance.modelId(), QueryTestSupport::randomModelId), instance.image());
        }
        byte[] image = Arrays.copyOf(instance.image(), instance.image().length + 1);
        return new ImageQueryVectorBuilder(instance.modelId(), image);
    }

    @Override
    protected Writeable.Reader<ImageQueryVectorBuilder> instanceReader() {
        return ImageQueryVectorBuilder::new;
    }

    @Override
    protected ImageQueryVectorBuilder doParseInstance(XContentParser parser) throws IOException {
        return ImageQueryVectorBuilder.fromXContent(parser, null);
    }

    @Override
    protected void doAssertClientRequest(ActionRequest request, ImageQueryVectorBuilder builder) {
        assertThat(request, instanceOf(EncodeRequest.class));
        EncodeRequest encode = (EncodeRequest) request;
        assertEquals(builder.modelId(), encode.modelId());
        assertEquals(1, encode.inputs().size());
        assertArrayEquals(builder.image(), encode.inputs().get(0).image());
    }

    @Override
    protected ActionResponse createResponse(float[] array, ImageQueryVectorBuilder builder) {
        return new EncodeResponse(List.of(EncodeResponse.Result.ok(new Encoding(array, new TokenFeatures(1, 1, 1, new float[] {0.5f})))), QueryTestSupport.featuresStored(FeatureCodec.INT8), QueryTestSupport.rerank(1f));
    }

    public void testAnUndecodableImageIsABadRequest() throws Exception {
        ImageQueryVectorBuilder builder = createTestInstance();
        ExecutionException e = QueryTestSupport.buildVectorFailure(getTestName(), builder::buildVector, "CORRUPT: not an image");
        assertThat(e.getCause(), instanceOf(IllegalArgumentException.class));
        assertThat(e.getCause().getMessage(),
            containsString("[fuserank_image] [image] cannot be encoded by model [" + builder.modelId() + "]: CORRUPT: not an image"));
    }

    public void testImageMustBeBase64() throws IOException {
        try (XContentParser parser = createParser(JsonXContent.jsonXContent, "{\"model_id\": \"m\", \"image\": \"not base64!\"}")) {
            ParsingException e = expectThrows(ParsingException.class, () -> ImageQueryVectorBuilder.fromXContent(parser, null));
            assertThat(e.getMessage(), containsString("[fuserank_image] [image] must be a base64 encoded image file"));
        }
    }

    public void testUnknownFieldListsTheValidOnes() throws IOException {
        try (XContentParser parser = createParser(JsonXContent.jsonXContent, "{\"model_id\": \"m\", \"url\": \"http://x\"}")) {
            XContentParseException e = expectThrows(XContentParseException.class, () -> ImageQueryVectorBuilder.fromXContent(parser, null));
            assertThat(e.getMessage(), containsString("[fuserank_image] unknown field [url]"));
            assertThat(e.getMessage(), containsString("valid fields: [model_id, image]"));
        }
    }

    public void testImageIsRequired() throws IOException {
        try (XContentParser parser = createParser(JsonXContent.jsonXContent, "{\"model_id\": \"m\"}")) {
            ParsingException e = expectThrows(ParsingException.class, () -> ImageQueryVectorBuilder.fromXContent(parser, null));
            assertThat(e.getMessage(), containsString("[fuserank_image] Required [image]"));
        }
    }
}
