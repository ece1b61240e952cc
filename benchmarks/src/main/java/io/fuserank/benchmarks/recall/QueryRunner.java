package io.fuserank.benchmarks.recall;

import io.fuserank.benchmarks.SearchStats;

import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.ArrayList;
import java.util.List;

/**
 * Runs queries {@code 0..n-1} on {@code concurrency} client threads (closed loop: each thread sends
 * its next query when the last one answers) and keeps every answer and its latency. The first
 * failing query stops the run with an error naming it.
 */
final class QueryRunner {

    /** One query: its ranked answer (image or caption numbers). */
    interface Query {
        int[] run(int index) throws Exception;
    }

    record Timed(int[][] answers, long[] latencyNanos, long wallNanos) {
        SearchStats.Latency latency() {
            return SearchStats.Latency.of(latencyNanos, wallNanos);
        }
    }

    private QueryRunner() {
    }

    static Timed run(String what, int n, int concurrency, Query query) throws Exception {
        if (concurrency < 1) {
            throw new IllegalArgumentException("concurrency must be at least 1, got [" + concurrency + "]");
        }
        int[][] answers = new int[n][];
        long[] nanos = new long[n];
        AtomicInteger next = new AtomicInteger();
        AtomicReference<Exception> failure = new AtomicReference<>();
        ExecutorService pool = Executors.newFixedThreadPool(concurrency);
        long start = System.nanoTime();
        try {
            List<Future<?>> workers = new ArrayList<>();
            for (int w = 0; w < concurrency; w++) {
                workers.add(pool.submit(() -> {
                    for (int i = next.getAndIncrement(); i < n && failure.get() == null; i = next.getAndIncrement()) {
                        long begin = System.nanoTime();
                        try {
                            answers[i] = query.run(i);
                        } catch (Exception e) {
                            failure.compareAndSet(null, new Exception(String.format(Locale.ROOT, "%s: query [%d] failed: %s", what, i, e.getMessage()), e));
                            return;
                        }
                        nanos[i] = System.nanoTime() - begin;
                    }
                }));
            }
            for (Future<?> worker : workers) {
                worker.get();
            }
        } finally {
            pool.shutdownNow();
        }
        if (failure.get() != null) {
            throw failure.get();
        }
        return new Timed(answers, nanos, System.nanoTime() - start);
    }
}
