package io.fuserank.plugin.query;

import io.fuserank.encoder.Encoding;
import io.fuserank.encoder.FeatureCodec;
import io.fuserank.encoder.TokenFeatures;
import io.fuserank.plugin.FuseRankPlugin;
import io.fuserank.plugin.action.EncodeRequest;
import io.fuserank.plugin.action.EncodeResponse;
import org.elasticsearch.action.ActionRequest;
import org.elasticsearch.action.ActionResponse;
import org.elasticsearch.action.support.PlainActionFuture;
import org.elasticsearch.common.ParsingException;
import org.elasticsearch.common.io.stream.Writeable;
import org.elasticsearch.plugins.SearchPlugin;
import org.elasticsearch.test.AbstractQueryVectorBuilderTestCase;
import org.elasticsearch.xcontent.XContentParseException;
import org.elasticsearch.xcontent.XContentParser;
import org.elasticsearch.xcontent.json.JsonXContent;

import java.io.IOException;
import java.util.List;
import java.util.concurrent.ExecutionException;

import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.instanceOf;

/** Wire and xContent round trips of {@code fuserank_text}, inside {@code knn} too, and its client call and error paths. */
public class TextQueryVectorBuilderTests extends AbstractQueryVectorBuilderTestCase<TextQueryVectorBuilder> {

    @Override
    protected List<SearchPlugin> additionalPlugins() {
        return List.of(new FuseRankPlugin());
    }

    @Override
    protected TextQueryVectorBuilder createTestInstance() {
        return new TextQueryVectorBuilder(QueryTestSupport.randomModelId(), randomAlphaOfLengthBetween(1, 40));
    }

    @Override
    protected TextQueryVectorBuilder mutateInstance(TextQueryVectorBuilder instance) {
        return randomBoolean()
            ? new TextQueryVectorBuilder(randomValueOtherThan(instance.modelId(), QueryTestSupport::randomModelId), instance.text())
            : new TextQueryVectorBuilder(instance.modelId(), instance.text() + randomAlphaOfLength(3));
    }

    @Override
    protected Writeable.Reader<TextQueryVectorBuilder> instanceReader() {
        return TextQueryVectorBuilder::new;
    }

    @Override
    protected TextQueryVectorBuilder doParseInstance(XContentParser parser) throws IOException {
        return TextQueryVectorBuilder.fromXContent(parser, null);
    }

    @Override
    protected void doAssertClientRequest(ActionRequest request, TextQueryVectorBuilder builder) {
        assertThat(request, instanceOf(EncodeRequest.class));
        EncodeRequest encode = (EncodeRequest) request;
        assertEquals(builder.modelId(), encode.modelId());
        assertEquals(List.of(EncodeRequest.Input.text(builder.text())), encode.inputs());
    }

    @Override
    protected ActionResponse createResponse(float[] array, TextQueryVectorBuilder builder) {
        return new EncodeResponse(List.of(EncodeResponse.Result.ok(new Encoding(array, new TokenFeatures(1, 1, 1, new float[] {0.5f})))), QueryTestSupport.featuresStored(FeatureCodec.INT8), QueryTestSupport.rerank(1f));
    }

    public void testAModelRejectionIsABadRequest() throws Exception {
        TextQueryVectorBuilder builder = createTestInstance();
        ExecutionException e = QueryTestSupport.buildVectorFailure(getTestName(), builder::buildVector, "text too long");
        assertThat(e.getCause(), instanceOf(IllegalArgumentException.class));
        assertThat(e.getCause().getMessage(), containsString("[fuserank_text] [text] cannot be encoded by model [" + builder.modelId() + "]: text too long"));
    }

    public void testUnknownFieldListsTheValidOnes() throws IOException {
        try (XContentParser parser = createParser(JsonXContent.jsonXContent, "{\"model_id\": \"m\", \"query\": \"a red circle\"}")) {
            XContentParseException e = expectThrows(XContentParseException.class, () -> TextQueryVectorBuilder.fromXContent(parser, null));
            assertThat(e.getMessage(), containsString("[fuserank_text] unknown field [query]"));
            assertThat(e.getMessage(), containsString("valid fields: [model_id, text]"));
        }
    }

    public void testTextIsRequired() throws IOException {
        try (XContentParser parser = createParser(JsonXContent.jsonXContent, "{\"model_id\": \"m\"}")) {
            ParsingException e = expectThrows(ParsingException.class, () -> TextQueryVectorBuilder.fromXContent(parser, null));
            assertThat(e.getMessage(), containsString("[fuserank_text] Required [text]"));
        }
    }

    public void testBlankTextAndBadModelIdAreRejected() {
        assertThat(expectThrows(IllegalArgumentException.class, () -> new TextQueryVectorBuilder("m", "  ")).getMessage(),
            containsString("[fuserank_text] needs a non-blank [text], got [  ]"));
        assertThat(expectThrows(IllegalArgumentException.class, () -> new TextQueryVectorBuilder("Bad Id", "x")).getMessage(),
            containsString("model_id [Bad Id]"));
    }

    public void testEncodesOnce() throws Exception {
        float[] expected = randomVector(8);
        PlainActionFuture<float[]> future = new PlainActionFuture<>();
        int[] calls = new int[1];
        QueryTestSupport.withClient(getTestName(), request -> {
            calls[0]++;
            return new EncodeResponse(List.of(EncodeResponse.Result.ok(new Encoding(expected, new TokenFeatures(1, 1, 1, new float[] {1})))), QueryTestSupport.featuresStored(FeatureCodec.INT8), QueryTestSupport.rerank(1f));
        }, client -> createTestInstance().buildVector(client, future));
        assertArrayEquals(expected, future.get(), 0f);
        assertEquals(1, calls[0]);
    }
}
