package io.fuserank.tools;

import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.BufferedWriter;
import java.io.Closeable;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The documents one run could not index, as JSON Lines {@code {"id", "path", "reason"}} (id or
 * path null when the source record had none). A run replaces the previous run's file: a rerun
 * retries everything not in the index, so its own file is the complete list of what is still
 * missing. The file is created on the first failure (a clean run leaves none) and every line is
 * flushed at once, so a killed run still leaves whole lines.
 */
final class DeadLetterFile implements Closeable {

    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path file;
    private BufferedWriter out;
    private long lines;

    /** Removes what an earlier run left at {@code file}. */
    DeadLetterFile(Path file) throws IOException {
        this.file = file;
        Files.deleteIfExists(file);
    }

    Path file() {
        return file;
    }

    synchronized long lines() {
        return lines;
    }

    synchronized void write(String id, String path, String reason) {
        Map<String, String> line = new LinkedHashMap<>();
        line.put("id", id);
        line.put("path", path);
        line.put("reason", reason);
        try {
            if (out == null) {
                out = Files.newBufferedWriter(file, StandardCharsets.UTF_8);
            }
            out.write(JSON.writeValueAsString(line));
            out.write('\n');
            out.flush();
            lines++;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the dead-letter file [" + file + "]", e);
        }
    }

    @Override
    public synchronized void close() throws IOException {
        if (out != null) {
            out.close();
        }
    }
}
