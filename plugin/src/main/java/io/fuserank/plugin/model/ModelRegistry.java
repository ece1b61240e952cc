package io.fuserank.plugin.model;

import ai.onnxruntime.OrtException;
import io.fuserank.encoder.InferenceOptions;
import io.fuserank.encoder.MemoryBudget;
import io.fuserank.encoder.ModelBundle;
import org.elasticsearch.ElasticsearchException;
import org.elasticsearch.ResourceNotFoundException;
import org.elasticsearch.core.IOUtils;
import org.elasticsearch.logging.LogManager;
import org.elasticsearch.logging.Logger;

import java.io.Closeable;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The node's models: each bundle is loaded once, on first use, and its ONNX sessions are shared
 * by every request until the plugin closes.
 *
 * <p>A model id names a sub-directory of one of the roots (the configured models directory
 * first, then the models bundled in the plugin). Messages that reach users name a bundle by its
 * root's shown name ({@link ModelRoot}), never by its absolute path; the node's log has both.
 * Loading opens three ONNX Runtime sessions and takes a second or so, so callers run {@link #get}
 * on the inference pool or, a bounded number at once, on a search thread ({@link InlineInference});
 * never on a transport thread. A bundle that fails validation is not cached: fixing the files and
 * retrying works without a restart.
 */
public final class ModelRegistry implements Closeable {

    private static final Logger logger = LogManager.getLogger(ModelRegistry.class);
    private static final Pattern MODEL_ID = Pattern.compile("[a-z0-9][a-z0-9._-]{0,63}");

    private final List<ModelRoot> roots;
    private final InferenceOptions options;
    private final int fusionBatch;
    private final MemoryBudget decodingBudget;
    private final Map<String, LoadedModel> models = new ConcurrentHashMap<>();
    private volatile boolean closed;

    /** @param decodingBudget what every model's image decoding reserves its memory from */
    public ModelRegistry(List<ModelRoot> roots, InferenceOptions options, int fusionBatch, MemoryBudget decodingBudget) {
        this.roots = List.copyOf(roots);
        this.options = options;
        this.fusionBatch = fusionBatch;
        this.decodingBudget = decodingBudget;
    }

    public List<ModelRoot> roots() {
        return roots;
    }

    /** The model, loading it if this is its first use. */
    public LoadedModel get(String modelId) {
        validateId(modelId);
        if (closed) {
            throw new IllegalStateException("the fuserank model registry is closed");
        }
        return models.computeIfAbsent(modelId, this::load);
    }

    /** The model if this node has loaded it already; never loads. */
    public Optional<LoadedModel> ifLoaded(String modelId) {
        return Optional.ofNullable(models.get(modelId));
    }

    /** Models loaded so far. */
    public Collection<LoadedModel> loaded() {
        return List.copyOf(models.values());
    }

    /** Ids of every bundle directory found on the search paths, sorted. */
    public List<String> available() {
        TreeSet<String> ids = new TreeSet<>();
        for (ModelRoot root : roots) {
            if (!Files.isDirectory(root.directory())) {
                continue;
            }
            try (Stream<Path> children = Files.list(root.directory())) {
                children.filter(p -> Files.isRegularFile(p.resolve("manifest.json")))
                    .map(p -> p.getFileName().toString())
                    .filter(id -> MODEL_ID.matcher(id).matches())
                    .forEach(ids::add);
            } catch (IOException e) {
                logger.warn("cannot list fuserank models in [{}]: {}", root.directory(), e.getMessage());
            }
        }
        return new ArrayList<>(ids);
    }

    public static void validateId(String modelId) {
        if (modelId == null || MODEL_ID.matcher(modelId).matches() == false) {
            throw new IllegalArgumentException("model_id [" + modelId
                + "] must be 1-64 characters of [a-z0-9._-], starting with a letter or digit");
        }
    }

    /** The root holding the bundle of {@code modelId}, the first in search order; null when none does. */
    public ModelRoot rootOf(String modelId) {
        return roots.stream().filter(root -> Files.isRegularFile(root.directory().resolve(modelId).resolve("manifest.json")))
            .findFirst().orElse(null);
    }

    private LoadedModel load(String modelId) {
        ModelRoot root = rootOf(modelId);
        if (root == null) {
            throw new ResourceNotFoundException("model [" + modelId + "] not found in " + roots.stream().map(ModelRoot::shown).toList()
                + "; available models: " + available());
        }
        Path directory = root.directory().resolve(modelId);
        String shown = root.shown(modelId);
        long start = System.nanoTime();
        try {
            ModelBundle bundle = ModelBundle.load(directory);
            LoadedModel model = new LoadedModel(modelId, bundle, options, fusionBatch, decodingBudget);
            logger.info("fuserank loaded model [{}] from [{}] in {} ms", modelId, directory, (System.nanoTime() - start) / 1_000_000);
            return model;
        } catch (ModelBundle.BundleException e) {
            logger.warn(() -> "fuserank model [" + modelId + "] at [" + directory + "] is not a valid bundle", e);
            throw new ElasticsearchException("model [" + modelId + "] at [" + shown + "] is not a valid bundle: "
                + root.hidePaths(e.getMessage()));
        } catch (OrtException | RuntimeException e) {
            logger.warn(() -> "fuserank model [" + modelId + "] at [" + directory + "] cannot be loaded", e);
            throw new ElasticsearchException("model [" + modelId + "] at [" + shown + "] cannot be loaded: " + root.hidePaths(e.getMessage()));
        }
    }

    @Override
    public void close() throws IOException {
        closed = true;
        List<LoadedModel> open = new ArrayList<>(models.values());
        models.clear();
        IOUtils.close(open);
    }
}
