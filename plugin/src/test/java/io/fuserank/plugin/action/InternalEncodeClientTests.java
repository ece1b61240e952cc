package io.fuserank.plugin.action;

import io.fuserank.plugin.FuseRankPlugin;
import io.fuserank.plugin.FuseRankSettings;
import org.elasticsearch.action.bulk.BulkResponse;
import org.elasticsearch.action.index.IndexRequest;
import org.elasticsearch.action.search.SearchResponse;
import org.elasticsearch.action.support.ActionFilter;
import org.elasticsearch.action.support.PlainActionFuture;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.common.util.concurrent.ThreadContext;
import org.elasticsearch.common.xcontent.XContentHelper;
import org.elasticsearch.plugins.ActionPlugin;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.search.builder.SearchSourceBuilder;
import org.elasticsearch.test.ESSingleNodeTestCase;
import org.elasticsearch.xcontent.XContentParser;
import org.elasticsearch.xcontent.XContentParserConfiguration;
import org.elasticsearch.xcontent.json.JsonXContent;
import org.junit.Before;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * The encode action runs in an empty thread context whoever asks, so that with security on it runs
 * as the system user on behalf of an already-authorized search or bulk request, and the caller
 * hears back in its own context. A header and a transient stand for the user's authentication,
 * which security keeps in the thread context; an action filter, where security's own runs, records
 * what the encode action sees, on a real node, through a real search and a real ingest pipeline.
 */
public class InternalEncodeClientTests extends ESSingleNodeTestCase {

    private static final String USER = "_fuserank_test_user";
    private static final Path EXAMPLES = Path.of("..", "example-queries").toAbsolutePath().normalize();

    /** Records the user header and transient each encode request runs with. */
    public static class EncodeContextRecorder extends Plugin implements ActionPlugin {
        static final List<String> SEEN = new CopyOnWriteArrayList<>();
        private ThreadContext threadContext;

        @Override
        public Collection<?> createComponents(PluginServices services) {
            threadContext = services.threadPool().getThreadContext();
            return List.of();
        }

        @Override
        public Collection<ActionFilter> getActionFilters() {
            return List.of(new OnEncodeFilter(() -> SEEN.add(threadContext.getHeader(USER) + "/" + threadContext.getTransient(USER))));
        }
    }

    @Override
    protected Collection<Class<? extends Plugin>> getPlugins() {
        return List.of(FuseRankPlugin.class, EncodeContextRecorder.class);
    }

    @Override
    protected Settings nodeSettings() {
        return Settings.builder().put(super.nodeSettings())
            .put(FuseRankSettings.MODELS_PATH.getKey(), Path.of("..", "models").toAbsolutePath().normalize().toString())
            .build();
    }

    @Before
    public void forgetEarlierEncodes() {
        EncodeContextRecorder.SEEN.clear();
    }

    @SuppressWarnings("unchecked")
    private void createDocumentedIndex(String index, String file) throws IOException {
        Map<String, Object> body = XContentHelper.convertToMap(JsonXContent.jsonXContent,
            Files.readString(EXAMPLES.resolve("mappings").resolve(file)), false);
        assertTrue(indicesAdmin().prepareCreate(index).setMapping((Map<String, Object>) body.get("mappings")).get().isAcknowledged());
    }

    private ThreadContext threadContext() {
        return client().threadPool().getThreadContext();
    }

    /** Stashes the test thread's context and puts {@code user} where security would keep its authentication. */
    private ThreadContext.StoredContext actAs(String user) {
        ThreadContext.StoredContext stored = threadContext().stashContext();
        threadContext().putHeader(USER, user);
        threadContext().putTransient(USER, user);
        return stored;
    }

    public void testTheActionRunsInAnEmptyContextAndTheListenerInTheCallers() throws Exception {
        PlainActionFuture<String> heard = new PlainActionFuture<>();
        try (ThreadContext.StoredContext ignored = actAs("alice")) {
            InternalEncodeClient.execute(client(), new EncodeRequest("fuserank-small", List.of(EncodeRequest.Input.text("a red circle"))),
                heard.map(response -> threadContext().getHeader(USER) + "/" + threadContext().getTransient(USER)));
        }
        assertEquals("alice/alice", heard.get());
        assertEquals(List.of("null/null"), EncodeContextRecorder.SEEN);
    }

    public void testASearchEncodesItsQueryOutsideTheUsersContext() throws Exception {
        createDocumentedIndex("images", "image-index.json");
        String body = Files.readString(EXAMPLES.resolve("search").resolve("text-to-image.json")).replace("{{TEXT}}", "a red circle");
        SearchSourceBuilder source;
        try (XContentParser parser = JsonXContent.jsonXContent.createParser(
            XContentParserConfiguration.EMPTY.withRegistry(xContentRegistry()), body)) {
            source = SearchSourceBuilder.searchSource().parseXContent(parser, true, feature -> true);
        }
        SearchResponse response;
        try (ThreadContext.StoredContext ignored = actAs("alice")) {
            response = client().prepareSearch("images").setSource(source).get();
        }
        try {
            assertEquals(0, response.getFailedShards());
        } finally {
            response.decRef();
        }
        assertFalse("the search encoded its text", EncodeContextRecorder.SEEN.isEmpty());
        assertTrue("every encode ran without the user: " + EncodeContextRecorder.SEEN,
            EncodeContextRecorder.SEEN.stream().allMatch("null/null"::equals));
    }

    public void testIngestEncodesOutsideTheUsersContext() throws Exception {
        putJsonPipeline("fuserank-captions", Files.readString(EXAMPLES.resolve("mappings").resolve("caption-ingest-pipeline.json")));
        createDocumentedIndex("captions", "caption-index.json");
        BulkResponse bulk;
        try (ThreadContext.StoredContext ignored = actAs("bob")) {
            bulk = client().prepareBulk()
                .add(new IndexRequest("captions").source(Map.of("caption", "a red circle")).setPipeline("fuserank-captions"))
                .add(new IndexRequest("captions").source(Map.of("caption", "a blue square")).setPipeline("fuserank-captions")).get();
        }
        assertFalse(bulk.buildFailureMessage(), bulk.hasFailures());
        assertFalse(EncodeContextRecorder.SEEN.isEmpty());
        assertTrue("every encode ran without the user: " + EncodeContextRecorder.SEEN,
            EncodeContextRecorder.SEEN.stream().allMatch("null/null"::equals));
    }
}
