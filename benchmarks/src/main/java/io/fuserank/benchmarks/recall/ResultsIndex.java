package io.fuserank.benchmarks.recall;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.fuserank.benchmarks.EsJson;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * Writes result rows into an Elasticsearch index (created with {@code results-index.json}, the
 * mapping the Kibana saved objects in {@code example-queries/kibana/} are built on), one document
 * per row, so runs can be compared over time on the dashboard.
 */
public final class ResultsIndex {

    public static final String MAPPING_RESOURCE = "/results-index.json";

    private ResultsIndex() {
    }

    public static void write(EsJson engine, String index, List<ObjectNode> rows) throws IOException {
        if (engine.exists("/" + index) == false) {
            engine.send("PUT", "/" + index, mapping());
        }
        StringBuilder bulk = new StringBuilder();
        for (ObjectNode row : rows) {
            bulk.append("{\"index\":{}}\n").append(row.toString()).append('\n');
        }
        var response = engine.bulk("/" + index + "/_bulk?refresh=true", bulk.toString());
        if (response.path("errors").asBoolean()) {
            for (var item : response.path("items")) {
                var error = item.path("index").path("error");
                if (error.isMissingNode() == false) {
                    throw new IOException("index [" + index + "] refused a result row: " + error.path("type").asText() + ": " + error.path("reason").asText());
                }
            }
        }
    }

    static String mapping() throws IOException {
        try (InputStream in = ResultsIndex.class.getResourceAsStream(MAPPING_RESOURCE)) {
            if (in == null) {
                throw new IOException("resource [" + MAPPING_RESOURCE + "] is missing from the benchmarks jar");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }
}
