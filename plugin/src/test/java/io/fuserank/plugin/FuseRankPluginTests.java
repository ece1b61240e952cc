package io.fuserank.plugin;

import io.fuserank.encoder.NativeRuntimeCheck;
import org.elasticsearch.action.admin.cluster.node.info.NodeInfo;
import org.elasticsearch.action.admin.cluster.node.info.NodesInfoResponse;
import org.elasticsearch.action.admin.cluster.node.info.PluginsAndModules;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.test.ESSingleNodeTestCase;

import java.util.Collection;
import java.util.List;

/** The plugin loads into a node and its start-up check finds both native runtimes. */
public class FuseRankPluginTests extends ESSingleNodeTestCase {

    @Override
    protected Collection<Class<? extends Plugin>> getPlugins() {
        return List.of(FuseRankPlugin.class);
    }

    public void testNodeListsThePlugin() {
        NodesInfoResponse info = client().admin().cluster().prepareNodesInfo().setPlugins(true).get();
        NodeInfo node = info.getNodes().get(0);
        List<String> classnames = node.getInfo(PluginsAndModules.class)
            .getPluginInfos()
            .stream()
            .map(p -> p.descriptor().getClassname())
            .toList();
        assertTrue("plugins " + classnames, classnames.contains(FuseRankPlugin.class.getName()));
    }

    public void testStartUpCheckLoadedBothNativeRuntimes() {
        NativeRuntimeCheck.Result result = getInstanceFromNode(NativeRuntimeCheck.Result.class);
        assertEquals("1.29.0", result.onnxRuntimeVersion());
        assertEquals(13, result.probeTokenIds().length);
    }
}
