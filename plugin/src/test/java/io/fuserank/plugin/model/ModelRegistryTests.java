package io.fuserank.plugin.model;

import io.fuserank.encoder.InferenceOptions;
import io.fuserank.encoder.MemoryBudget;
import io.fuserank.encoder.Precision;
import org.elasticsearch.ElasticsearchException;
import org.elasticsearch.ResourceNotFoundException;
import org.elasticsearch.test.ESTestCase;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.not;

/** What the registry tells users names models by their roots' shown names, never by absolute paths. */
public class ModelRegistryTests extends ESTestCase {

    public void testRootsAreShownRelativeToTheirBaseOrByTheirSettingOutsideIt() {
        Path config = createTempDir().resolve("config");
        assertEquals("fuserank/models", ModelRoot.relativeTo(config.resolve("fuserank/models"), config, "", "<setting>").shown());
        assertEquals("plugins/fuserank/models",
            ModelRoot.relativeTo(config.resolve("../plugins/fuserank/models"), config.resolve("../plugins"), "plugins/", "<bundled>").shown());
        assertEquals("<setting>", ModelRoot.relativeTo(createTempDir().resolve("elsewhere"), config, "", "<setting>").shown());
        assertEquals("fuserank/models/m1", new ModelRoot(config, "fuserank/models").shown("m1"));
    }

    public void testAnUnknownModelListsTheAvailableIdsButNoPath() throws Exception {
        Path config = createTempDir();
        try (ModelRegistry registry = registryWithAlpha(config, "{}")) {
            ResourceNotFoundException e = expectThrows(ResourceNotFoundException.class, () -> registry.get("beta"));
            assertEquals("model [beta] not found in [fuserank/models]; available models: [alpha]", e.getMessage());
        }
    }

    public void testAnInvalidBundleIsNamedByItsShownPath() throws Exception {
        Path config = createTempDir();
        try (ModelRegistry registry = registryWithAlpha(config, "{ not json")) {
            ElasticsearchException e = expectThrows(ElasticsearchException.class, () -> registry.get("alpha"));
            assertThat(e.getMessage(), containsString("model [alpha] at [fuserank/models/alpha] is not a valid bundle: "));
            assertThat(e.getMessage(), not(containsString(config.toString())));
            assertNull("the cause, with its paths, stays in the node's log", e.getCause());
        }
    }

    /** A node set to a precision a model has no graphs of fails to load it, naming what it has. */
    public void testAPrecisionTheModelLacksFailsItsLoadNamingWhatItHas() throws Exception {
        Path config = createTempDir();
        Path models = config.resolve("fuserank").resolve("models");
        Path blip = Path.of("..", "encoder", "src", "test", "resources", "bundles", "blip-tiny").toAbsolutePath().normalize();
        copyDirectory(blip, models.resolve("blip-tiny"));
        try (ModelRegistry registry = new ModelRegistry(List.of(ModelRoot.relativeTo(models, config, "", "<setting>")),
            new InferenceOptions(1, false, 0, Precision.INT8), 1, MemoryBudget.UNBOUNDED)) {
            ElasticsearchException e = expectThrows(ElasticsearchException.class, () -> registry.get("blip-tiny"));
            assertEquals("model [blip-tiny] at [fuserank/models/blip-tiny] cannot be loaded: model [blip-tiny] has no [int8] graphs: "
                + "it has [fp32] (manifest field [precisions])", e.getMessage());
        }
        try (ModelRegistry registry = new ModelRegistry(List.of(ModelRoot.relativeTo(models, config, "", "<setting>")),
            new InferenceOptions(1, false, 0, Precision.FP32), 1, MemoryBudget.UNBOUNDED)) {
            assertEquals(Precision.FP32, registry.get("blip-tiny").precision());
        }
    }

    private static void copyDirectory(Path from, Path to) throws IOException {
        try (var files = Files.walk(from)) {
            for (Path source : (Iterable<Path>) files::iterator) {
                Path target = to.resolve(from.relativize(source).toString());
                if (Files.isDirectory(source)) {
                    Files.createDirectories(target);
                } else {
                    Files.copy(source, target);
                }
            }
        }
    }

    /** A registry over {@code <config>/fuserank/models}, which holds one bundle, [alpha], with {@code manifest} as its manifest. */
    private static ModelRegistry registryWithAlpha(Path config, String manifest) throws IOException {
        Path models = config.resolve("fuserank").resolve("models");
        Files.createDirectories(models.resolve("alpha"));
        Files.writeString(models.resolve("alpha").resolve("manifest.json"), manifest);
        return new ModelRegistry(List.of(ModelRoot.relativeTo(models, config, "", "<setting>")), new InferenceOptions(1, false, 0), 1,
            MemoryBudget.UNBOUNDED);
    }
}
