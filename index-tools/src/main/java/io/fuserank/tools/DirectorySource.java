package io.fuserank.tools;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

/**
 * Every image file under a directory, at any depth, without captions. Files are recognised by
 * extension (the formats {@link io.fuserank.encoder.ImagePreprocessor} reads); anything else in the
 * tree (annotation files, thumbnails databases) is not an image of the collection and is passed
 * over silently. The tree is walked lazily, and once more up front to count it for the progress
 * bar: a second directory walk is cheap next to encoding, and holding a million paths is not.
 */
final class DirectorySource implements EntrySource {

    static final Set<String> EXTENSIONS = Set.of("jpg", "jpeg", "png", "gif", "bmp", "webp");

    private final Path root;

    DirectorySource(Path root) {
        this.root = root;
    }

    static boolean isImageFile(Path file) {
        String name = file.getFileName().toString();
        int dot = name.lastIndexOf('.');
        return dot > 0 && EXTENSIONS.contains(name.substring(dot + 1).toLowerCase(Locale.ROOT));
    }

    @Override
    public String describe() {
        return "directory [" + root + "]";
    }

    @Override
    public long size() throws IOException {
        try (Stream<Path> files = imageFiles()) {
            return files.count();
        }
    }

    @Override
    public Stream<SourceEntry> entries() throws IOException {
        return imageFiles().map(file -> {
            String path = DocumentIds.normalize(root.relativize(file).toString());
            return new SourceEntry.Image(DocumentIds.forPath(path), path, file, Map.of());
        });
    }

    private Stream<Path> imageFiles() throws IOException {
        return Files.walk(root).filter(file -> isImageFile(file) && Files.isRegularFile(file));
    }
}
