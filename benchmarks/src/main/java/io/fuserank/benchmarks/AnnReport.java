package io.fuserank.benchmarks;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The ANN comparison's rows and their two renderings: one Markdown table (with footnotes) and
 * JSON. A row is one engine at one search parameter.
 */
final class AnnReport {

    /**
     * One engine at one search-time parameter ({@code ef} for hnswlib, {@code num_candidates} for
     * Elasticsearch, none for brute force). {@code buildSeconds} is the index build (the same for
     * every row of an engine), {@code tookMeanMillis} the mean of Elasticsearch's own {@code took},
     * {@code vectorOps} the mean number of vectors compared per query; each is null where it is
     * not known.
     */
    record Row(String engine, String parameterName, Integer parameter, double recallAt10, SearchStats.Latency latency,
               Double buildSeconds, Double tookMeanMillis, Double vectorOps) {

        String parameterLabel() {
            return parameter == null ? parameterName : parameterName + "=" + parameter;
        }
    }

    private final List<Row> rows = new ArrayList<>();
    private final List<String> notes = new ArrayList<>();

    void add(Row row) {
        rows.add(row);
    }

    void note(String note) {
        notes.add(note);
    }

    List<Row> rows() {
        return List.copyOf(rows);
    }

    List<String> notes() {
        return List.copyOf(notes);
    }

    /** The table, then one footnote line per note. */
    String markdown() {
        StringBuilder out = new StringBuilder();
        out.append("| engine | parameter | recall@10 | p50 ms | p95 ms | QPS | build s | server took mean ms | vectors compared |\n");
        out.append("|---|---|---:|---:|---:|---:|---:|---:|---:|\n");
        for (Row row : rows) {
            out.append(String.format(Locale.ROOT, "| %s | %s | %.4f | %.3f | %.3f | %.0f | %s | %s | %s |\n",
                row.engine(), row.parameterLabel(), row.recallAt10(), row.latency().p50Millis(), row.latency().p95Millis(),
                row.latency().qps(), orDash(row.buildSeconds(), "%.2f"), orDash(row.tookMeanMillis(), "%.2f"),
                orDash(row.vectorOps(), "%.0f")));
        }
        if (!notes.isEmpty()) {
            out.append('\n');
            for (String note : notes) {
                out.append("- ").append(note).append('\n');
            }
        }
        return out.toString();
    }

    /** The rows as JSON objects (snake_case, milliseconds), for ann.json and the results index. */
    ArrayNode rowsJson(ObjectMapper mapper) {
        ArrayNode array = mapper.createArrayNode();
        for (Row row : rows) {
            ObjectNode node = array.addObject();
            node.put("engine", row.engine());
            node.put("parameter_name", row.parameterName());
            if (row.parameter() == null) {
                node.putNull("ann_param");
            } else {
                node.put("ann_param", row.parameter());
            }
            node.put("recall_at_10", row.recallAt10());
            node.put("latency_p50_ms", row.latency().p50Millis());
            node.put("latency_p95_ms", row.latency().p95Millis());
            node.put("qps", row.latency().qps());
            putNullable(node, "build_s", row.buildSeconds());
            putNullable(node, "took_mean_ms", row.tookMeanMillis());
            putNullable(node, "vector_ops_mean", row.vectorOps());
        }
        return array;
    }

    private static void putNullable(ObjectNode node, String field, Double value) {
        if (value == null) {
            node.putNull(field);
        } else {
            node.put(field, value);
        }
    }

    private static String orDash(Double value, String format) {
        return value == null ? "-" : String.format(Locale.ROOT, format, value);
    }
}
