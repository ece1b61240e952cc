package io.fuserank.benchmarks;

import org.openjdk.jmh.results.Result;
import org.openjdk.jmh.results.RunResult;

import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * JMH's run results, looked up by benchmark method and converted to seconds per operation
 * whatever mode and time unit JMH reported them in, so the summary never depends on a
 * benchmark's {@code @OutputTimeUnit}.
 */
final class Measurements {

    private static final Map<String, Double> SECONDS_PER_UNIT = Map.of(
        "ns", 1e-9, "us", 1e-6, "ms", 1e-3, "s", 1.0, "min", 60.0, "hr", 3600.0);

    private final List<RunResult> results;

    Measurements(List<RunResult> results) {
        this.results = List.copyOf(results);
    }

    /** Every result, in benchmark name and then parameter order. */
    List<RunResult> all() {
        return results.stream().sorted(Comparator.comparing(Measurements::sortKey)).toList();
    }

    /** The runs of {@code benchmark.method}, one per parameter combination that ran. */
    List<RunResult> runsOf(Class<?> benchmark, String method) {
        String name = benchmark.getName() + "." + method;
        return all().stream().filter(r -> r.getParams().getBenchmark().equals(name)).toList();
    }

    /** The run of {@code benchmark.method} with these parameter values, if it ran. */
    Optional<RunResult> find(Class<?> benchmark, String method, Map<String, String> params) {
        return runsOf(benchmark, method).stream()
            .filter(r -> params.entrySet().stream().allMatch(p -> p.getValue().equals(r.getParams().getParam(p.getKey()))))
            .findFirst();
    }

    /** The primary score as seconds per operation, from {@code "ms/op"}-style or {@code "ops/s"}-style units. */
    static double secondsPerOperation(RunResult run) {
        Result<?> primary = run.getPrimaryResult();
        String unit = primary.getScoreUnit();
        double score = primary.getScore();
        if (unit.startsWith("ops/")) {
            return seconds(unit.substring("ops/".length()), unit) / score;
        }
        if (unit.endsWith("/op")) {
            return score * seconds(unit.substring(0, unit.length() - "/op".length()), unit);
        }
        throw new IllegalArgumentException("unsupported JMH score unit [" + unit + "] of [" + label(run) + "]");
    }

    static int intParam(RunResult run, String name) {
        String value = run.getParams().getParam(name);
        if (value == null) {
            throw new IllegalArgumentException("benchmark [" + label(run) + "] has no parameter [" + name + "]");
        }
        return Integer.parseInt(value);
    }

    /** {@code Class.method} with its parameters, for messages. */
    static String label(RunResult run) {
        var params = run.getParams();
        StringBuilder out = new StringBuilder(params.getBenchmark());
        for (String key : params.getParamsKeys()) {
            out.append(' ').append(key).append('=').append(params.getParam(key));
        }
        return out.toString();
    }

    /** As {@link #label}, numbers zero-padded so that k = 16 sorts before k = 128. */
    private static String sortKey(RunResult run) {
        var params = run.getParams();
        StringBuilder out = new StringBuilder(params.getBenchmark());
        for (String key : params.getParamsKeys()) {
            String value = params.getParam(key);
            out.append(' ').append(key).append('=')
                .append(value.matches("\\d{1,18}") ? String.format(Locale.ROOT, "%018d", Long.parseLong(value)) : value);
        }
        return out.toString();
    }

    private static double seconds(String timeUnit, String unit) {
        Double seconds = SECONDS_PER_UNIT.get(timeUnit);
        if (seconds == null) {
            throw new IllegalArgumentException("unsupported time unit [" + timeUnit + "] in JMH score unit [" + unit + "]");
        }
        return seconds;
    }
}
