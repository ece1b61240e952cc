package io.fuserank.plugin.model;

import java.nio.file.Path;
import java.util.Objects;

/**
 * A directory the registry finds model bundles in, one sub-directory per model id, and the name
 * it goes by in responses and errors. Users see the name, never the directory: an absolute path
 * tells a client about the node's file system and nothing it can use.
 *
 * @param directory where the bundles are
 * @param shown     the directory as users see it: relative to the node's config directory (or, for
 *                  the bundled models, to the Elasticsearch home), or the setting that names it
 */
public record ModelRoot(Path directory, String shown) {

    public ModelRoot {
        Objects.requireNonNull(directory, "directory");
        Objects.requireNonNull(shown, "shown");
    }

    /**
     * {@code directory} named relative to {@code base} as {@code prefix + relative path}, or
     * {@code otherwise} when it lies outside {@code base}.
     */
    public static ModelRoot relativeTo(Path directory, Path base, String prefix, String otherwise) {
        Path normalized = directory.toAbsolutePath().normalize();
        Path root = base.toAbsolutePath().normalize();
        String shown = normalized.startsWith(root) ? prefix + root.relativize(normalized).toString().replace('\\', '/') : otherwise;
        return new ModelRoot(directory, shown);
    }

    /** How the bundle of {@code modelId} in this root is shown. */
    public String shown(String modelId) {
        return shown + "/" + modelId;
    }

    /** {@code message} with every mention of this root's directory replaced by its shown name. */
    String hidePaths(String message) {
        if (message == null) {
            return null;
        }
        return message.replace(directory.toAbsolutePath().normalize().toString(), shown).replace(directory.toString(), shown);
    }
}
