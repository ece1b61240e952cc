package io.fuserank.tools;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * The result of a run, printed to stdout as aligned {@code key value} lines (data: the only thing
 * the command writes to stdout), with the figures the issue asks for: end-to-end images/s next to
 * the raw encoder's images/s measured in the same run, and peak RSS (captions/s for captions).
 *
 * @param kind         what was indexed: the unit of the rates
 * @param mode         e.g. {@code client-side with [fuserank-small] on the CPU, int8 features, 2 threads x batch 32, ...}
 * @param total        entries in the source
 * @param seconds      wall time of the indexing itself
 * @param setupSeconds loading the model, connecting and checking the index, before it
 * @param threads      encoding threads, to turn summed encoder time into a rate
 * @param clock        encoder timing, or null for server-side runs
 */
record Summary(IndexKind kind, String index, String mode, String source, long total, Tally tally, double seconds,
               double setupSeconds, int threads, EncoderClock clock) {

    void print(PrintStream out) {
        long attempted = tally.indexed() + tally.skipped() + tally.failed();
        line(out, "index", index + " (" + mode + ")");
        line(out, "source", source);
        line(out, "indexed", Long.toString(tally.indexed()));
        line(out, "skipped", tally.skipped() + (tally.skipped() > 0 ? " (already indexed)" : ""));
        line(out, "failed", tally.failed() + (tally.failed() > 0 ? " (see " + tally.deadLetters().file() + ")" : ""));
        if (tally.aborted()) {
            line(out, "not attempted", Long.toString(Math.max(0, total - attempted)));
            line(out, "aborted", tally.abortReason());
        }
        line(out, "retried", tally.retried() + " documents" + (tally.retried() > 0 ? " (" + tally.retriedByCause() + ")" : ""));
        line(out, "wall time", String.format(Locale.ROOT, "%.1f s (+ %.1f s to set up: model, connection, index check)", seconds, setupSeconds));
        double endToEnd = seconds > 0 ? tally.indexed() / seconds : 0;
        String unit = kind.label() + "s";
        line(out, unit + "/s", String.format(Locale.ROOT, "%.1f end to end (indexed / wall time)", endToEnd));
        if (clock != null && clock.items() > 0) {
            double raw = clock.encoderRate(threads);
            if (kind == IndexKind.IMAGE) {
                double withPreprocessing = clock.encoderWithPreprocessingRate(threads);
                line(out, "encoder images/s", String.format(Locale.ROOT,
                    "%.1f raw encodePixels, %.1f with reading and preprocessing (%d images on %d threads)",
                    raw, withPreprocessing, clock.items(), threads));
                line(out, "end to end / raw", String.format(Locale.ROOT, "%.0f%% of raw encodePixels, %.0f%% of reading + preprocessing + encodePixels",
                    100 * endToEnd / raw, 100 * endToEnd / withPreprocessing));
            } else {
                line(out, "encoder " + unit + "/s", String.format(Locale.ROOT,
                    "%.1f in TextEncoder.encodeEach, tokenizing included (%d %s on %d threads)", raw, clock.items(), unit, threads));
                line(out, "end to end / raw", String.format(Locale.ROOT, "%.0f%% of TextEncoder.encodeEach", 100 * endToEnd / raw));
            }
        }
        line(out, "peak RSS", peakRss());
    }

    private static void line(PrintStream out, String key, String value) {
        out.printf(Locale.ROOT, "%-18s %s%n", key, value);
    }

    /** VmHWM from /proc/self/status: the most resident memory this process ever had. */
    static String peakRss() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmHWM:")) {
                    long kib = Long.parseLong(line.replaceAll("[^0-9]", ""));
                    return String.format(Locale.ROOT, "%.0f MiB", kib / 1024.0);
                }
            }
        } catch (IOException | NumberFormatException e) {
            return "unknown (" + e.getMessage() + ")";
        }
        return "unknown (no VmHWM in /proc/self/status)";
    }
}
