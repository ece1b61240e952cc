package io.fuserank.plugin;

import io.fuserank.encoder.NativeRuntimeCheck;
import org.elasticsearch.logging.LogManager;
import org.elasticsearch.logging.Logger;
import org.elasticsearch.plugins.Plugin;

import java.util.Collection;
import java.util.List;

/**
 * The fuserank Elasticsearch plugin. This class only wires: the work lives in the encoder and
 * reranker libraries and in this plugin's feature packages.
 */
public class FuseRankPlugin extends Plugin {

    private static final Logger logger = LogManager.getLogger(FuseRankPlugin.class);

    /**
     * Loads the native runtimes at node start so that a missing library or entitlement is one
     * clear log line at start rather than an error on the first request. A failure is logged and
     * the node still starts: it serves everything that does not need a model.
     */
    @Override
    public Collection<?> createComponents(PluginServices services) {
        try {
            NativeRuntimeCheck.Result result = NativeRuntimeCheck.run();
            logger.info("fuserank {}", result.summary());
            return List.of(result);
        } catch (IllegalStateException e) {
            logger.error("fuserank cannot run models on this node", e);
            return List.of();
        }
    }
}
