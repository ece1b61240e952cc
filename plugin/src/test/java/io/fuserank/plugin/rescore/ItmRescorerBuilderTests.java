package io.fuserank.plugin.rescore;

import io.fuserank.encoder.Encoding;
import io.fuserank.encoder.FeatureCodec;
import io.fuserank.encoder.TokenFeatures;
import io.fuserank.plugin.FuseRankPlugin;
import io.fuserank.plugin.action.EncodeRequest;
import io.fuserank.plugin.action.EncodeResponse;
import io.fuserank.plugin.query.QueryTestSupport;
import io.fuserank.reranker.RerankDefaults;
import io.fuserank.reranker.ScoreMode;
import org.elasticsearch.TransportVersion;
import org.elasticsearch.action.support.PlainActionFuture;
import org.elasticsearch.common.ParsingException;
import org.elasticsearch.common.io.stream.NamedWriteableRegistry;
import org.elasticsearch.common.io.stream.Writeable;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.index.query.QueryRewriteContext;
import org.elasticsearch.index.query.Rewriteable;
import org.elasticsearch.rest.RestStatus;
import org.elasticsearch.search.SearchModule;
import org.elasticsearch.search.builder.SearchSourceBuilder;
import org.elasticsearch.search.rescore.RescorerBuilder;
import org.elasticsearch.test.AbstractWireSerializingTestCase;
import org.elasticsearch.test.AbstractXContentTestCase;
import org.elasticsearch.xcontent.NamedXContentRegistry;
import org.elasticsearch.xcontent.XContentParseException;
import org.elasticsearch.xcontent.XContentParser;
import org.elasticsearch.xcontent.json.JsonXContent;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.function.Supplier;

import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.instanceOf;
import static org.hamcrest.Matchers.not;
import static org.hamcrest.Matchers.sameInstance;

/**
 * The {@code fuserank_itm} builder: wire round trips of random instances with and without their
 * encoded query (directly and inside a search source through the plugin's registry), xContent round
 * trips, the option errors, the window check and the coordinator rewrite that encodes the query once.
 */
public class ItmRescorerBuilderTests extends AbstractWireSerializingTestCase<ItmRescorerBuilder> {

    private static final int MAX_WINDOW = 256;
    private final Supplier<ItmServices> services = () -> new ItmServices(null, MAX_WINDOW, new RescoredWindows());
    private final SearchModule searchModule = new SearchModule(Settings.EMPTY, List.of(new FuseRankPlugin()));

    @Override
    protected NamedXContentRegistry xContentRegistry() {
        return new NamedXContentRegistry(searchModule.getNamedXContents());
    }

    @Override
    protected NamedWriteableRegistry getNamedWriteableRegistry() {
        return new NamedWriteableRegistry(searchModule.getNamedWriteables());
    }

    @Override
    protected Writeable.Reader<ItmRescorerBuilder> instanceReader() {
        return in -> new ItmRescorerBuilder(in, services);
    }

    @Override
    protected ItmRescorerBuilder createTestInstance() {
        ItmRescorerBuilder builder = randomUnencoded();
        return randomBoolean() ? builder : builder.withQuery(randomQuery());
    }

    @Override
    protected ItmRescorerBuilder mutateInstance(ItmRescorerBuilder instance) {
        ItmOptions o = instance.options();
        ItmRescorerBuilder mutated = switch (between(0, 2)) {
            case 0 -> new ItmRescorerBuilder(new ItmOptions(o.modelId() + "x", o.text(), o.image(), o.featuresField(), o.vectorField(),
                o.scoreMode(), blendWeight(o, o.queryWeight()), blendWeight(o, o.rescoreQueryWeight()), itcWeight(o)), services);
            case 1 -> new ItmRescorerBuilder(new ItmOptions(o.modelId(), o.text(), o.image(), o.featuresField() + "_x", o.vectorField(),
                o.scoreMode(), blendWeight(o, o.queryWeight()), blendWeight(o, o.rescoreQueryWeight()), itcWeight(o)), services);
            default -> new ItmRescorerBuilder(new ItmOptions(o.modelId(), o.text(), o.image(), o.featuresField(), o.vectorField(),
                o.scoreMode(), blendWeight(o, o.queryWeight()), blendWeight(o, o.rescoreQueryWeight()), itcWeight(o)), services)
                .windowSize(instance.windowSize() == null ? 7 : instance.windowSize() + 1);
        };
        if (mutated.windowSize() == null && instance.windowSize() != null) {
            mutated.windowSize(instance.windowSize());
        }
        return instance.query() == null ? mutated : mutated.withQuery(instance.query());
    }

    /** Raw options back from validated ones: the weights exist only in blend. */
    private static Float blendWeight(ItmOptions o, float weight) {
        return o.requestedMode() == ScoreMode.BLEND ? weight : null;
    }

    /** Raw options back from validated ones: itc_weight stays as given (null: the model's). */
    private static Float itcWeight(ItmOptions o) {
        return o.itcWeight();
    }

    private ItmRescorerBuilder randomUnencoded() {
        boolean text = randomBoolean();
        ScoreMode mode = randomBoolean() ? null : randomFrom(ScoreMode.values());
        boolean blend = mode == ScoreMode.BLEND;
        ItmOptions options = new ItmOptions(QueryTestSupport.randomModelId(), text ? randomAlphaOfLengthBetween(1, 30) : null,
            text ? null : randomByteArrayOfLength(between(1, 40)), randomBoolean() ? null : randomAlphaOfLength(6),
            randomBoolean() ? null : randomAlphaOfLength(6), mode == null ? null : mode.label(),
            blend && randomBoolean() ? randomFloat() : null, blend && randomBoolean() ? randomFloat() * 3 : null,
            mode == ScoreMode.ITM_PLUS_ITC && randomBoolean() ? randomFloat() * 100 : null);
        ItmRescorerBuilder builder = new ItmRescorerBuilder(options, services);
        if (randomBoolean()) {
            builder.windowSize(between(1, MAX_WINDOW));
        }
        return builder;
    }

    private static EncodedQuery randomQuery() {
        int layers = between(1, 2);
        int tokens = between(1, 6);
        int width = between(1, 8);
        float[] values = new float[layers * tokens * width];
        for (int i = 0; i < values.length; i++) {
            values[i] = randomFloat();
        }
        float[] embedding = new float[between(1, 16)];
        for (int i = 0; i < embedding.length; i++) {
            embedding[i] = randomFloat();
        }
        // Our models' queries carry token features; a BLIP text query its token ids (and no features).
        long[] tokenIds = null;
        if (randomBoolean()) {
            tokenIds = new long[between(1, 8)];
            for (int i = 0; i < tokenIds.length; i++) {
                tokenIds[i] = between(0, 30521);
            }
        }
        TokenFeatures features = tokenIds != null && randomBoolean() ? null : new TokenFeatures(layers, tokens, width, values);
        // A model without ITC (BridgeTower, ViLT) has no query embedding and never defaults to a mode that reads ITC.
        boolean hasItc = randomBoolean();
        ScoreMode mode = hasItc ? randomFrom(ScoreMode.values()) : randomFrom(ScoreMode.ITM, ScoreMode.BLEND);
        return new EncodedQuery(new Encoding(hasItc ? embedding : null, features, tokenIds),
            new RerankDefaults(mode, randomFrom(1f, 64f, randomFloat() * 300), hasItc));
    }

    public void testRoundTripsInsideASearchSourceThroughThePluginRegistry() throws IOException {
        for (int i = 0; i < NUMBER_OF_TEST_RUNS; i++) {
            SearchSourceBuilder source = new SearchSourceBuilder().addRescorer(createTestInstance());
            SearchSourceBuilder copy = copyWriteable(source, getNamedWriteableRegistry(), SearchSourceBuilder::new,
                TransportVersion.current());
            assertEquals(source, copy);
        }
    }

    public void testXContentRoundTrip() throws IOException {
        AbstractXContentTestCase.xContentTester(this::createParser, this::randomUnencoded, parser -> {
            parser.nextToken();
            return (ItmRescorerBuilder) RescorerBuilder.parseFromXContent(parser, name -> {});
        }).numberOfTestRuns(NUMBER_OF_TEST_RUNS).test();
    }

    public void testDefaultsFollowTheQueryDirection() throws IOException {
        ItmOptions text = parse("{\"model_id\": \"fuserank-small\", \"text\": \"a red circle\"}").options();
        assertEquals("image_features", text.featuresField());
        assertEquals("image_vector", text.vectorField());
        assertNull("left to the model", text.requestedMode());
        assertNull("left to the model", text.itcWeight());
        assertEquals("implied by itc_weight", ScoreMode.ITM_PLUS_ITC,
            parse("{\"model_id\": \"m\", \"text\": \"x\", \"itc_weight\": 2}").options().requestedMode());
        assertEquals("implied by query_weight", ScoreMode.BLEND,
            parse("{\"model_id\": \"m\", \"text\": \"x\", \"query_weight\": 2}").options().requestedMode());
        assertEquals(64f, parse("{\"model_id\": \"m\", \"text\": \"x\", \"itc_weight\": 64}").options().itcWeight(), 0f);
        ItmOptions image = parse("{\"model_id\": \"fuserank-small\", \"image\": \"iVBORw0KGgo=\"}").options();
        assertEquals("text_features", image.featuresField());
        assertEquals("text_vector", image.vectorField());
    }

    public void testUnknownOptionListsTheValidOnes() {
        XContentParseException e = expectThrows(XContentParseException.class,
            () -> parse("{\"model_id\": \"m\", \"text\": \"x\", \"weight\": 2}"));
        assertThat(e.getMessage(), containsString("[fuserank_itm] unknown field [weight]"));
        assertThat(e.getMessage(), containsString("valid fields: [model_id, text, image, features_field, vector_field, score_mode, "
            + "query_weight, rescore_query_weight, itc_weight]"));
    }

    public void testExactlyOneOfTextAndImage() {
        assertThat(expectThrows(IllegalArgumentException.class, () -> parse("{\"model_id\": \"m\"}")).getMessage(),
            containsString("[fuserank_itm] needs exactly one of [text] and [image], got neither"));
        assertThat(expectThrows(IllegalArgumentException.class,
            () -> parse("{\"model_id\": \"m\", \"text\": \"x\", \"image\": \"iVBORw0KGgo=\"}")).getMessage(),
            containsString("[fuserank_itm] needs exactly one of [text] and [image], got both"));
    }

    public void testOptionErrors() {
        assertRejected("{\"text\": \"x\"}", "[fuserank_itm] needs [model_id]");
        assertRejected("{\"model_id\": \"m\", \"text\": \"x\", \"score_mode\": \"max\"}",
            "[fuserank_itm] [score_mode] unknown score mode [max], valid: [itm, itm_plus_itc, blend]");
        assertRejected("{\"model_id\": \"m\", \"text\": \"x\", \"score_mode\": \"itm\", \"query_weight\": 0.5}",
            "[query_weight] and [rescore_query_weight] apply to score_mode [blend] only, score_mode is [itm]");
        assertRejected("{\"model_id\": \"m\", \"text\": \"x\", \"score_mode\": \"blend\", \"rescore_query_weight\": -1}",
            "[fuserank_itm] [rescore_query_weight] must be a finite number >= 0, got [-1.0]");
        assertRejected("{\"model_id\": \"m\", \"text\": \"x\", \"score_mode\": \"blend\", \"itc_weight\": 4}",
            "[itc_weight] applies to score_mode [itm_plus_itc] only, score_mode is [blend]");
        assertRejected("{\"model_id\": \"m\", \"text\": \"x\", \"itc_weight\": -2}",
            "[fuserank_itm] [itc_weight] must be a finite number >= 0, got [-2.0]");
        assertRejected("{\"model_id\": \"m\", \"text\": \" \"}", "needs a non-blank [text], got [ ]");
    }

    /** Elasticsearch reports the innermost Elasticsearch exception as the root cause: it must be the one naming the option. */
    public void testABadImageValueIsAParsingExceptionNamingTheOption() {
        ParsingException e = expectThrows(ParsingException.class, () -> parse("{\"model_id\": \"m\", \"image\": \"@@\"}"));
        assertThat(e.getMessage(), containsString("[fuserank_itm] [image] must be a base64 encoded image file"));
        assertEquals(RestStatus.BAD_REQUEST, e.status());
    }

    private void assertRejected(String json, String message) {
        assertThat(expectThrows(IllegalArgumentException.class, () -> parse(json)).getMessage(), containsString(message));
    }

    public void testWindowAboveTheMaximumFailsValidationNamingBothNumbers() {
        ItmRescorerBuilder builder = randomUnencoded().windowSize(MAX_WINDOW + 1);
        SearchSourceBuilder source = new SearchSourceBuilder().addRescorer(builder);
        assertThat(source.validate(null, false, false).getMessage(),
            containsString("[fuserank_itm] window_size [257] is above [fuserank.rescore.max_window] [256]"));
        assertNull(randomUnencoded().windowSize(MAX_WINDOW).validate(source, null));
    }

    public void testAWindowBelowOneIsRejectedNamingTheValue() {
        for (int window : new int[] {0, -1, Integer.MIN_VALUE}) {
            assertEquals("[fuserank_itm] window_size [" + window + "] must be at least [1]",
                expectThrows(IllegalArgumentException.class, () -> randomUnencoded().windowSize(window)).getMessage());
        }
        assertEquals(Integer.valueOf(1), randomUnencoded().windowSize(1).windowSize());
    }

    public void testCoordinatorRewriteEncodesTheQueryOnce() throws Exception {
        ItmRescorerBuilder builder = randomUnencoded();
        EncodedQuery expected = randomQuery();
        List<EncodeRequest> requests = new ArrayList<>();
        PlainActionFuture<RescorerBuilder<ItmRescorerBuilder>> future = new PlainActionFuture<>();
        QueryTestSupport.withClient(getTestName(), request -> {
            requests.add(request);
            return new EncodeResponse(List.of(EncodeResponse.Result.ok(expected.encoding())), QueryTestSupport.featuresStored(FeatureCodec.INT8),
                expected.modelRerank());
        }, client -> Rewriteable.<RescorerBuilder<ItmRescorerBuilder>>rewriteAndFetch(builder, new QueryRewriteContext(null, client, null), future));
        ItmRescorerBuilder rewritten = (ItmRescorerBuilder) future.get();
        assertThat(rewritten, not(sameInstance(builder)));
        assertEquals(expected, rewritten.query());
        assertEquals(builder.options(), rewritten.options());
        assertEquals(builder.windowSize(), rewritten.windowSize());
        assertEquals(1, requests.size());
        assertEquals(builder.options().modelId(), requests.get(0).modelId());
        assertEquals(builder.options().isTextQuery(), requests.get(0).inputs().get(0).isText());
        assertThat(rewritten.rewrite(new QueryRewriteContext(null, null, null)), sameInstance(rewritten));
    }

    public void testAModelRejectionFailsTheRewriteAsABadRequest() {
        ItmRescorerBuilder builder = randomUnencoded();
        PlainActionFuture<RescorerBuilder<ItmRescorerBuilder>> future = new PlainActionFuture<>();
        QueryTestSupport.withClient(getTestName(), request -> new EncodeResponse(List.of(EncodeResponse.Result.invalid("too long")), QueryTestSupport.featuresStored(FeatureCodec.INT8), QueryTestSupport.rerank(1f)),
            client -> Rewriteable.<RescorerBuilder<ItmRescorerBuilder>>rewriteAndFetch(builder, new QueryRewriteContext(null, client, null), future));
        ExecutionException e = expectThrows(ExecutionException.class, future::get);
        assertThat(e.getCause(), instanceOf(IllegalArgumentException.class));
        String option = builder.options().isTextQuery() ? "[text]" : "[image]";
        assertThat(e.getCause().getMessage(), containsString("[fuserank_itm] " + option + " cannot be encoded by model"));
        assertThat(e.getCause().getMessage(), containsString("too long"));
    }

    private ItmRescorerBuilder parse(String json) throws IOException {
        try (XContentParser parser = createParser(JsonXContent.jsonXContent, json)) {
            parser.nextToken();
            return ItmRescorerBuilder.fromXContent(parser, services);
        }
    }
}
