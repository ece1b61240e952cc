package io.fuserank.tools;

import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarStyle;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * How far the run is, on stderr: a progress bar with rate and ETA when stderr is a terminal; a
 * plain line every {@link #LOG_INTERVAL} otherwise (a bar redrawn with carriage returns makes a
 * log file unreadable, but a job running for hours under nohup or CI still needs a sign of life);
 * nothing with {@code --no-progress}.
 */
interface Progress extends AutoCloseable {

    Duration LOG_INTERVAL = Duration.ofSeconds(10);

    void advance(long n);

    @Override
    default void close() {
    }

    static Progress create(boolean wanted, long total) {
        if (!wanted) {
            return n -> { };
        }
        return stderrIsTerminal() ? new Bar(total) : new Lines(total, System.err);
    }

    /**
     * Whether file descriptor 2 is a terminal. Java has no API for it ({@code System.console()}
     * looks at stdin and stdout), so on Linux this reads the descriptor's link in /proc.
     */
    static boolean stderrIsTerminal() {
        try {
            String target = Files.readSymbolicLink(Path.of("/proc/self/fd/2")).toString();
            return target.startsWith("/dev/pts/") || target.startsWith("/dev/tty");
        } catch (Exception e) {
            return System.console() != null;
        }
    }

    /** me.tongfei.progressbar on stderr. */
    final class Bar implements Progress {
        private final ProgressBar bar;

        Bar(long total) {
            bar = ProgressBar.builder().setTaskName("index").setInitialMax(total).setStyle(ProgressBarStyle.ASCII)
                .setUnit(" images", 1).showSpeed().setUpdateIntervalMillis(500).build();
        }

        @Override
        public void advance(long n) {
            bar.stepBy(n);
        }

        @Override
        public void close() {
            bar.close();
        }
    }

    /** A line like {@code [fuserank index] 4200/10000 (42%), 35.1 images/s, ETA 2m45s} every interval. */
    final class Lines implements Progress {
        private final long total;
        private final long startNanos = System.nanoTime();
        private final AtomicLong done = new AtomicLong();
        private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "fuserank-progress");
            t.setDaemon(true);
            return t;
        });

        Lines(long total, PrintStream out) {
            this.total = total;
            long every = LOG_INTERVAL.toMillis();
            timer.scheduleAtFixedRate(() -> out.println(line()), every, every, TimeUnit.MILLISECONDS);
        }

        String line() {
            long n = done.get();
            double seconds = (System.nanoTime() - startNanos) / 1e9;
            double rate = n / Math.max(seconds, 1e-9);
            String eta = rate > 0 && total > n ? formatDuration(Math.round((total - n) / rate)) : "-";
            return String.format(Locale.ROOT, "[fuserank index] %d/%d (%.0f%%), %.1f images/s, ETA %s",
                n, total, total == 0 ? 100.0 : 100.0 * n / total, rate, eta);
        }

        static String formatDuration(long seconds) {
            return seconds >= 3600 ? String.format(Locale.ROOT, "%dh%02dm", seconds / 3600, seconds % 3600 / 60)
                : String.format(Locale.ROOT, "%dm%02ds", seconds / 60, seconds % 60);
        }

        @Override
        public void advance(long n) {
            done.addAndGet(n);
        }

        @Override
        public void close() {
            timer.shutdownNow();
        }
    }
}
