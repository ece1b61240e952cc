package io.fuserank.benchmarks;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * This process's resident set size, from {@code VmRSS} in {@code /proc/self/status} (Linux): the
 * one figure that shows native memory (ONNX Runtime, the tokenizer, ImageIO buffers) as well as
 * the Java heap, which JMX's memory beans do not.
 */
final class ProcessMemory {

    static final Path STATUS = Path.of("/proc/self/status");

    private ProcessMemory() {
    }

    /** Resident bytes now. */
    static long residentBytes() throws IOException {
        if (!Files.isReadable(STATUS)) {
            throw new IOException("cannot read [" + STATUS + "]: RSS sampling needs Linux's /proc");
        }
        return parseVmRss(Files.readAllLines(STATUS));
    }

    /** The {@code VmRSS:   123456 kB} line of a status file, in bytes. */
    static long parseVmRss(Iterable<String> statusLines) throws IOException {
        for (String line : statusLines) {
            if (line.startsWith("VmRSS:")) {
                String[] parts = line.substring("VmRSS:".length()).trim().split("\\s+");
                if (parts.length != 2 || !parts[1].equals("kB")) {
                    throw new IOException("unexpected VmRSS line [" + line + "] in [" + STATUS + "]");
                }
                return Long.parseLong(parts[0]) * 1024;
            }
        }
        throw new IOException("[" + STATUS + "] has no VmRSS line");
    }
}
