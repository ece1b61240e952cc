package io.fuserank.plugin.action;

import io.fuserank.plugin.FuseRankPlugin;
import io.fuserank.plugin.FuseRankSettings;
import org.elasticsearch.common.bytes.BytesArray;
import org.elasticsearch.common.Strings;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.rest.action.RestActions;
import org.elasticsearch.test.ESIntegTestCase;
import org.elasticsearch.test.rest.ObjectPath;
import org.elasticsearch.xcontent.ToXContent;
import org.elasticsearch.xcontent.XContentBuilder;
import org.elasticsearch.xcontent.json.JsonXContent;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.not;

/**
 * {@link ModelsAction} on a three-node cluster, its answer rendered as {@code GET _fuserank/models} sends it: every node answers for its own registry
 * (a model loaded on one node shows as loaded there only), and no absolute path is shown.
 */
@ESIntegTestCase.ClusterScope(scope = ESIntegTestCase.Scope.SUITE, numDataNodes = 3, numClientNodes = 0, supportsDedicatedMasters = false)
public class ModelsActionIntegTests extends ESIntegTestCase {

    private static final Path MODELS = Path.of("..", "models").toAbsolutePath().normalize();
    private static final String MODEL = "fuserank-small";

    @Override
    protected Collection<Class<? extends Plugin>> nodePlugins() {
        return List.of(FuseRankPlugin.class);
    }

    @Override
    protected Settings nodeSettings(int nodeOrdinal, Settings otherSettings) {
        return Settings.builder()
            .put(super.nodeSettings(nodeOrdinal, otherSettings))
            .put(FuseRankSettings.MODELS_PATH.getKey(), MODELS.toString())
            .build();
    }

    public void testEveryNodeAnswersForItsOwnRegistry() throws IOException {
        String loadedOn = internalCluster().getRandomNodeName();
        EncodeResponse encoded = internalCluster().client(loadedOn)
            .execute(EncodeAction.INSTANCE, new EncodeRequest(MODEL, List.of(EncodeRequest.Input.text("a red circle")))).actionGet();
        assertFalse(encoded.results().get(0).failed());

        ModelsResponse response = client().execute(ModelsAction.INSTANCE, new ModelsRequest()).actionGet();
        String body = rendered(response);
        ObjectPath listing = ObjectPath.createFromXContent(JsonXContent.jsonXContent, new BytesArray(body));
        assertEquals(3, (int) listing.evaluate("_nodes.total"));
        assertEquals(3, (int) listing.evaluate("_nodes.successful"));
        Map<String, Object> nodes = listing.evaluate("nodes");
        assertEquals(new TreeSet<>(Arrays.asList(internalCluster().getNodeNames())), new TreeSet<>(nodes.keySet()));
        Set<String> loaded = new TreeSet<>();
        for (String node : nodes.keySet()) {
            String model = "nodes." + node + ".models." + MODEL;
            if (listing.<Boolean>evaluate(model + ".loaded")) {
                loaded.add(node);
                assertEquals("<fuserank.models.path>/" + MODEL, listing.evaluate(model + ".manifest.path"));
                assertEquals(1, ((Number) listing.evaluate(model + ".stats.calls")).intValue());
            }
            assertEquals(List.of("<fuserank.models.path>", "plugins/fuserank/models"), listing.evaluate("nodes." + node + ".models_paths"));
        }
        assertEquals(Set.of(loadedOn), loaded);
        assertThat("no absolute path: " + body, body, not(containsString(MODELS.toString())));
        assertThat("no string value is an absolute path: " + body, body, not(containsString("\"/")));
    }

    /** The body {@code GET _fuserank/models} sends ({@link RestActions.NodesResponseRestListener}'s header, then the nodes). */
    private static String rendered(ModelsResponse response) throws IOException {
        XContentBuilder builder = JsonXContent.contentBuilder().startObject();
        RestActions.buildNodesHeader(builder, ToXContent.EMPTY_PARAMS, response);
        response.toXContent(builder, ToXContent.EMPTY_PARAMS);
        return Strings.toString(builder.endObject());
    }

    public void testTheActionAnswersForTheNamedNodesOnly() {
        String node = internalCluster().getRandomNodeName();
        ModelsResponse response = client().execute(ModelsAction.INSTANCE, new ModelsRequest(node)).actionGet();
        assertEquals(1, response.getNodes().size());
        assertEquals(node, response.getNodes().get(0).getNode().getName());
        assertFalse(response.hasFailures());
    }
}
