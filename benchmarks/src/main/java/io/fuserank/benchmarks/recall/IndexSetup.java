package io.fuserank.benchmarks.recall;

import io.fuserank.benchmarks.EsJson;
import io.fuserank.tools.FuseRankCli;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Builds the benchmark's indices the way a user does: {@code fuserank create-index} and
 * {@code fuserank index} (client-side encoding, the CLI's defaults), run in this process through
 * the CLI's own picocli entry point. The indices are then force-merged to one segment, so recall
 * does not depend on how many HNSW graphs indexing happened to leave (each segment has its own).
 */
final class IndexSetup {

    private IndexSetup() {
    }

    /**
     * Creates (replacing) {@code index} of {@code kind} ({@code image} or {@code caption}) and
     * indexes the split into it; the CLI's dead-letter file goes to {@code outDir}.
     */
    static void build(EsJson engine, Path model, String modelId, Path annotations, Path imageRoot, String index,
                      String kind, long expectedDocuments, Path outDir) throws IOException {
        cli("create-index", index, "--url", engine.base().toString(), "--model", model.toString(), "--model-id", modelId,
            "--kind", kind, "--replicas", "0", "--overwrite");
        List<String> args = new ArrayList<>(List.of("index", index, "--kind", kind, "--url", engine.base().toString(),
            "--model", model.toString(), "--karpathy", annotations.toString(), "--no-progress",
            "--dead-letter", outDir.resolve(index + "-dead-letter.jsonl").toString()));
        if (kind.equals("image")) {
            args.addAll(List.of("--image-root", imageRoot.toString()));
        }
        cli(args.toArray(String[]::new));
        engine.send("POST", "/" + index + "/_forcemerge?max_num_segments=1", null);
        engine.send("POST", "/" + index + "/_refresh", null);
        long count = engine.send("GET", "/" + index + "/_count", null).path("count").asLong(-1);
        if (count != expectedDocuments) {
            throw new IOException(String.format(Locale.ROOT,
                "index [%s] holds [%d] documents after indexing, expected [%d]: see the CLI's summary above", index, count, expectedDocuments));
        }
    }

    private static void cli(String... args) throws IOException {
        int exit = FuseRankCli.commandLine().execute(args);
        if (exit != 0) {
            throw new IOException("fuserank " + String.join(" ", args) + " exited with [" + exit + "]");
        }
    }
}
