package io.fuserank.plugin;

import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.test.ESSingleNodeTestCase;

import java.nio.file.Path;
import java.util.Collection;
import java.util.List;

/** A single node with the fuserank plugin serving the repository's models, plus the node settings a suite adds. */
public abstract class FuseRankSingleNodeTestCase extends ESSingleNodeTestCase {

    @Override
    protected Collection<Class<? extends Plugin>> getPlugins() {
        return List.of(FuseRankPlugin.class);
    }

    @Override
    protected Settings nodeSettings() {
        return Settings.builder().put(super.nodeSettings())
            .put(FuseRankSettings.MODELS_PATH.getKey(), Path.of("..", "models").toAbsolutePath().normalize().toString())
            .put(suiteSettings())
            .build();
    }

    /** The suite's own node settings. */
    protected abstract Settings suiteSettings();
}
