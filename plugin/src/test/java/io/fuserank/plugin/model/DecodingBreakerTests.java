package io.fuserank.plugin.model;

import io.fuserank.plugin.FuseRankSettings;
import io.fuserank.plugin.FuseRankSingleNodeTestCase;
import org.elasticsearch.ElasticsearchException;
import org.elasticsearch.ExceptionsHelper;
import org.elasticsearch.action.bulk.BulkItemResponse;
import org.elasticsearch.action.bulk.BulkResponse;
import org.elasticsearch.action.index.IndexRequest;
import org.elasticsearch.action.search.SearchRequestBuilder;
import org.elasticsearch.action.support.WriteRequest;
import org.elasticsearch.common.breaker.CircuitBreaker;
import org.elasticsearch.common.breaker.CircuitBreakingException;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.common.xcontent.XContentHelper;
import org.elasticsearch.index.query.QueryBuilders;
import org.elasticsearch.indices.breaker.CircuitBreakerService;
import org.elasticsearch.indices.breaker.CircuitBreakerStats;
import org.elasticsearch.rest.RestStatus;
import org.elasticsearch.search.builder.SearchSourceBuilder;
import org.elasticsearch.xcontent.NamedXContentRegistry;
import org.elasticsearch.xcontent.XContentParser;
import org.elasticsearch.xcontent.XContentParserConfiguration;
import org.elasticsearch.xcontent.json.JsonXContent;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.Map;

import static org.elasticsearch.test.hamcrest.ElasticsearchAssertions.assertHitCount;
import static org.elasticsearch.test.hamcrest.ElasticsearchAssertions.assertResponse;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.greaterThan;

/**
 * The {@value FuseRankSettings#BREAKER_NAME} circuit breaker in a real node, with a limit of 512 KB:
 * an image whose decoding needs more (a black 2000 x 1500 PNG of a few KB, which the 64-pixel model
 * decodes subsampled to 400 x 300: about 1 MB with the RGB copy and the resize buffers) is
 * refused with a 429 {@code circuit_breaking_exception} as a {@code fuserank_image} knn query, as a
 * {@code fuserank_itm} image query, and as one document of a bulk request (the others are
 * indexed); a small image still goes through, and once the requests are answered the breaker
 * holds nothing.
 */
public class DecodingBreakerTests extends FuseRankSingleNodeTestCase {

    private static final String MODEL = "fuserank-small";
    private static final Path REPOSITORY = Path.of("..").toAbsolutePath().normalize();
    private static final Path MAPPINGS = REPOSITORY.resolve("example-queries").resolve("mappings");

    @Override
    protected Settings suiteSettings() {
        return Settings.builder().put("breaker." + FuseRankSettings.BREAKER_NAME + ".limit", "512kb").build();
    }

    private static byte[] largePng() throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ImageIO.write(new BufferedImage(2000, 1500, BufferedImage.TYPE_3BYTE_BGR), "png", out);
        return out.toByteArray();
    }

    private static byte[] referenceImage() throws IOException {
        return Files.readAllBytes(REPOSITORY.resolve("models").resolve(MODEL).resolve("reference").resolve("images").resolve("00.png"));
    }

    private static String base64(byte[] bytes) {
        return Base64.getEncoder().encodeToString(bytes);
    }

    @SuppressWarnings("unchecked")
    private void createImageIndex() throws IOException {
        Map<String, Object> body = XContentHelper.convertToMap(JsonXContent.jsonXContent, Files.readString(MAPPINGS.resolve("image-index.json")), false);
        assertTrue(indicesAdmin().prepareCreate("images").setMapping((Map<String, Object>) body.get("mappings")).get().isAcknowledged());
    }

    /** A search request from a JSON body, parsed with the node's registry (where the plugin's builders are). */
    private SearchRequestBuilder search(String json) throws IOException {
        XContentParserConfiguration config = XContentParserConfiguration.EMPTY.withRegistry(getInstanceFromNode(NamedXContentRegistry.class));
        try (XContentParser parser = JsonXContent.jsonXContent.createParser(config, json)) {
            return client().prepareSearch("images").setSource(new SearchSourceBuilder().parseXContent(parser, true, feature -> true));
        }
    }

    private static String imageKnn(byte[] image) {
        return """
            {"knn": {"field": "image_vector", "k": 3, "num_candidates": 10,
              "query_vector_builder": {"fuserank_image": {"model_id": "%s", "image": "%s"}}}}""".formatted(MODEL, base64(image));
    }

    /** The failure is the breaker's, answered with 429, under the name clients see. */
    private static void assertTripped(Exception e) {
        assertEquals(e.toString(), RestStatus.TOO_MANY_REQUESTS, ExceptionsHelper.status(e));
        Throwable cause = ExceptionsHelper.unwrap(e, CircuitBreakingException.class);
        assertNotNull("a circuit breaking exception: " + e, cause);
        assertEquals("circuit_breaking_exception", ElasticsearchException.getExceptionName(cause));
        assertThat(cause.getMessage(), containsString("[fuserank] Data too large, data for [decoding a [png] image of [2000 x 1500] pixels]"));
    }

    /** Node stats show the breaker with nothing reserved once every request is answered, and the trips counted. */
    private void assertBreakerIdle(long minTrips) {
        CircuitBreakerStats stats = clusterAdmin().prepareNodesStats().setBreaker(true).get().getNodes().get(0).getBreaker()
            .getStats(FuseRankSettings.BREAKER_NAME);
        assertEquals(0, stats.getEstimated());
        assertEquals(512L << 10, stats.getLimit());
        assertThat(stats.getTrippedCount(), greaterThan(minTrips - 1));
        CircuitBreaker breaker = getInstanceFromNode(CircuitBreakerService.class).getBreaker(FuseRankSettings.BREAKER_NAME);
        assertEquals(0, breaker.getUsed());
    }

    public void testImageQueriesOverTheLimitAreTooManyRequests() throws Exception {
        createImageIndex();
        byte[] large = largePng();

        assertTripped(expectThrows(Exception.class, () -> search(imageKnn(large)).get()));
        String itm = """
            {"query": {"match_all": {}},
             "rescore": {"window_size": 5, "fuserank_itm": {"model_id": "%s", "image": "%s", "features_field": "image_features"}}}"""
            .formatted(MODEL, base64(large));
        assertTripped(expectThrows(Exception.class, () -> search(itm).get()));

        assertResponse(search(imageKnn(referenceImage())), r -> assertEquals(0, r.getHits().getHits().length));
        assertBreakerIdle(2);
    }

    public void testBulkDocumentOverTheLimitFailsAloneWith429() throws Exception {
        createImageIndex();
        putJsonPipeline("fuserank-images", Files.readString(MAPPINGS.resolve("ingest-pipeline.json")));
        BulkResponse bulk = client().prepareBulk().setRefreshPolicy(WriteRequest.RefreshPolicy.IMMEDIATE)
            .add(new IndexRequest("images").id("normal").source(Map.of("image", base64(referenceImage()))).setPipeline("fuserank-images"))
            .add(new IndexRequest("images").id("large").source(Map.of("image", base64(largePng()))).setPipeline("fuserank-images"))
            .get();

        BulkItemResponse normal = bulk.getItems()[0];
        BulkItemResponse large = bulk.getItems()[1];
        assertFalse(normal.getFailureMessage(), normal.isFailed());
        assertTrue(large.isFailed());
        assertEquals(RestStatus.TOO_MANY_REQUESTS, large.status());
        assertTripped(large.getFailure().getCause());
        assertHitCount(client().prepareSearch("images").setQuery(QueryBuilders.existsQuery("image_features")), 1);
        assertBreakerIdle(1);
    }
}
