package io.fuserank.plugin.model;

import ai.onnxruntime.OrtException;
import io.fuserank.encoder.InferenceOptions;
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
 * <p>A model id names a sub-directory of one of the search paths (the configured models
 * directory first, then the models bundled in the plugin). Loading opens three ONNX Runtime
 * sessions and takes a second or so, so callers run {@link #get} on the inference pool or, a
 * bounded number at once, on a search thread ({@link InlineInference}); never on a transport thread. A bundle that fails validation is not cached: fixing the files and
 * retrying works without a restart.
 */
public final class ModelRegistry implements Closeable {

    private static final Logger logger = LogManager.getLogger(ModelRegistry.class);
    private static final Pattern MODEL_ID = Pattern.compile("[a-z0-9][a-z0-9._-]{0,63}");

    private final List<Path> searchPaths;
    private final InferenceOptions options;
    private final int fusionBatch;
    private final Map<String, LoadedModel> models = new ConcurrentHashMap<>();
    private volatile boolean closed;

    public ModelRegistry(List<Path> searchPaths, InferenceOptions options, int fusionBatch) {
        this.searchPaths = List.copyOf(searchPaths);
        this.options = options;
        this.fusionBatch = fusionBatch;
    }

    public List<Path> searchPaths() {
        return searchPaths;
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
        for (Path root : searchPaths) {
            if (!Files.isDirectory(root)) {
                continue;
            }
            try (Stream<Path> children = Files.list(root)) {
                children.filter(p -> Files.isRegularFile(p.resolve("manifest.json")))
                    .map(p -> p.getFileName().toString())
                    .filter(id -> MODEL_ID.matcher(id).matches())
                    .forEach(ids::add);
            } catch (IOException e) {
                logger.warn("cannot list fuserank models in [{}]: {}", root, e.getMessage());
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

    private LoadedModel load(String modelId) {
        Path directory = searchPaths.stream().map(p -> p.resolve(modelId)).filter(p -> Files.isRegularFile(p.resolve("manifest.json")))
            .findFirst().orElseThrow(() -> new ResourceNotFoundException(
                "model [" + modelId + "] not found in " + searchPaths + "; available models: " + available()));
        long start = System.nanoTime();
        try {
            ModelBundle bundle = ModelBundle.load(directory);
            LoadedModel model = new LoadedModel(modelId, bundle, options, fusionBatch);
            logger.info("fuserank loaded model [{}] from [{}] in {} ms", modelId, directory, (System.nanoTime() - start) / 1_000_000);
            return model;
        } catch (ModelBundle.BundleException e) {
            throw new ElasticsearchException("model [" + modelId + "] at [" + directory + "] is not a valid bundle: " + e.getMessage(), e);
        } catch (OrtException | RuntimeException e) {
            throw new ElasticsearchException("model [" + modelId + "] at [" + directory + "] cannot be loaded: " + e.getMessage(), e);
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
