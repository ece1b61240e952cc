package io.fuserank.benchmarks;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The table's layout, the JSON rows and the timed-run helper, on given numbers. */
class AnnReportTest {

    @Test
    void markdownHasOneRowPerEngineAndParameterThenTheNotes() {
        AnnReport report = new AnnReport();
        report.add(new AnnReport.Row("brute_force", "exact", null, 1.0, new SearchStats.Latency(100, 0.0412, 0.05, 0.06, 23000), null, null, 1000.0));
        report.add(new AnnReport.Row("es_hnsw", "num_candidates", 40, 0.98765, new SearchStats.Latency(100, 1.5, 2.25, 2.5, 610.4), 3.456, 1.0, null));
        report.note("footnote");
        String[] lines = report.markdown().split("\n");
        assertEquals("| engine | parameter | recall@10 | p50 ms | p95 ms | QPS | build s | server took mean ms | vectors compared |", lines[0]);
        assertEquals("| brute_force | exact | 1.0000 | 0.041 | 0.050 | 23000 | - | - | 1000 |", lines[2]);
        assertEquals("| es_hnsw | num_candidates=40 | 0.9877 | 1.500 | 2.250 | 610 | 3.46 | 1.00 | - |", lines[3]);
        assertEquals("- footnote", lines[5]);

        JsonNode rows = report.rowsJson(new ObjectMapper());
        assertTrue(rows.get(0).path("ann_param").isNull());
        assertEquals(40, rows.get(1).path("ann_param").asInt());
        assertEquals(0.98765, rows.get(1).path("recall_at_10").asDouble(), 1e-12);
        assertEquals(3.456, rows.get(1).path("build_s").asDouble(), 1e-12);
    }

    @Test
    void timedRunWarmsUpThenTimesEveryQueryInOrder() {
        int[] calls = new int[1];
        AnnComparison.Timed run = AnnComparison.time(3, 2, q -> {
            calls[0]++;
            return new int[] {q};
        });
        assertEquals(5, calls[0]);
        assertEquals(3, run.results().size());
        assertEquals(2, run.results().get(2)[0]);
        assertTrue(run.latency().qps() > 0);
    }

    @Test
    void datasetNameIsTheAnnotationDirectoryAndStem() {
        assertEquals("scenes/test", AnnComparison.defaultDataset(Path.of("/data/scenes/test.json")));
    }
}
