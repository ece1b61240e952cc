package io.fuserank.tools;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Argument errors are exit code 2 with the offending value in brackets; an unreachable cluster is exit 1 naming the URL. */
class IndexCommandTest {

    @TempDir
    Path dir;

    record Result(int exitCode, String out, String err) {
    }

    /** Runs {@code fuserank index ARGS...} in-process, keeping System.out (the summary) and System.err. */
    static Result run(String... args) {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        PrintStream originalErr = System.err;
        PrintStream originalOut = System.out;
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        try {
            CommandLine cli = FuseRankCli.commandLine();
            cli.setErr(new PrintWriter(err, true, StandardCharsets.UTF_8));
            List<String> all = new ArrayList<>(List.of("index"));
            all.addAll(List.of(args));
            int code = cli.execute(all.toArray(String[]::new));
            return new Result(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setErr(originalErr);
            System.setOut(originalOut);
        }
    }

    private Path annotations() throws Exception {
        Path file = dir.resolve("ann.json");
        Files.writeString(file, "[{\"image\": \"a.png\", \"caption\": [\"a red circle\"]}]");
        return file;
    }

    private void assertBadArguments(String expected, String... args) {
        Result result = run(args);
        assertEquals(2, result.exitCode(), result.err());
        assertTrue(result.err().contains(expected), "expected [" + expected + "] in:\n" + result.err());
        assertEquals("", result.out());
    }

    @Test
    void numbersOutOfRangeNameTheValue() throws Exception {
        String ann = annotations().toString();
        String root = dir.toString();
        assertBadArguments("--batch [0] must be between 1 and 1024",
            "images", "--model", root, "--karpathy", ann, "--image-root", root, "--batch", "0");
        assertBadArguments("--threads [0] must be between 1 and 256",
            "images", "--model", root, "--karpathy", ann, "--image-root", root, "--threads", "0");
        assertBadArguments("--max-in-flight [-1] must be between 1 and 64",
            "images", "--model", root, "--karpathy", ann, "--image-root", root, "--max-in-flight", "-1");
        assertBadArguments("'many' is not an int",
            "images", "--model", root, "--karpathy", ann, "--image-root", root, "--retries", "many");
    }

    @Test
    void exactlyOneSourceIsRequired() throws Exception {
        String root = dir.toString();
        assertBadArguments("Missing required argument", "images", "--model", root);
        assertBadArguments("mutually exclusive", "images", "--model", root, "--dir", root, "--jsonl", annotations().toString());
    }

    @Test
    void sourcePathsAreChecked() throws Exception {
        String root = dir.toString();
        assertBadArguments("--karpathy [" + annotations() + "] needs --image-root DIR", "images", "--model", root, "--karpathy", annotations().toString());
        assertBadArguments("--dir [" + dir.resolve("missing") + "] is not a directory", "images", "--model", root, "--dir", dir.resolve("missing").toString());
        assertBadArguments("--jsonl [" + dir.resolve("none.jsonl") + "] is not a readable file", "images", "--model", root,
            "--jsonl", dir.resolve("none.jsonl").toString());
        assertBadArguments("--image-root [" + root + "] does not go with --dir", "images", "--model", root, "--dir", root, "--image-root", root);
    }

    @Test
    void aKarpathyFileThatIsNotAnArrayIsABadArgument() throws Exception {
        Path file = dir.resolve("coco.json");
        Files.writeString(file, "{\"images\": []}");
        assertBadArguments("--karpathy [" + file + "] is not a JSON array", "images", "--server-side", "--pipeline", "p",
            "--karpathy", file.toString(), "--image-root", dir.toString());
    }

    @Test
    void kindIsImageOrCaption() throws Exception {
        assertBadArguments("--kind [video] is not one of [image, caption]", "images", "--kind", "video", "--model", dir.toString(),
            "--karpathy", annotations().toString(), "--image-root", dir.toString());
    }

    @Test
    void captionsComeFromAKarpathyFileAndNeedNoImageRoot() throws Exception {
        String ann = annotations().toString();
        String root = dir.toString();
        assertBadArguments("--dir [" + root + "] does not go with --kind caption: captions are indexed from a --karpathy ANN file",
            "captions", "--kind", "caption", "--model", root, "--dir", root);
        assertBadArguments("--jsonl [" + ann + "] does not go with --kind caption", "captions", "--kind", "caption", "--model", root,
            "--jsonl", ann);
        assertBadArguments("--image-root [" + root + "] is not used with --kind caption", "captions", "--kind", "caption", "--model", root,
            "--karpathy", ann, "--image-root", root);
        // Without --image-root the checks go on to the model.
        assertBadArguments("--model [" + root + "] is not a usable model bundle", "captions", "--kind", "caption", "--model", root,
            "--karpathy", ann);
        assertBadArguments("--server-side needs --pipeline NAME, the ingest pipeline that encodes the captions", "captions", "--kind",
            "caption", "--server-side", "--karpathy", ann);
    }

    @Test
    void clientAndServerSideOptionsDoNotMix() throws Exception {
        String ann = annotations().toString();
        String root = dir.toString();
        assertBadArguments("--server-side needs --pipeline NAME", "images", "--server-side", "--karpathy", ann, "--image-root", root);
        assertBadArguments("--pipeline [p] is only used with --server-side", "images", "--model", root, "--pipeline", "p",
            "--karpathy", ann, "--image-root", root);
        assertBadArguments("--model [" + root + "] is not used with --server-side", "images", "--server-side", "--pipeline", "p",
            "--model", root, "--karpathy", ann, "--image-root", root);
        assertBadArguments("give --model DIR to encode here, or --server-side --pipeline NAME", "images", "--karpathy", ann, "--image-root", root);
    }

    @Test
    void modelAndCodecAreChecked() throws Exception {
        String ann = annotations().toString();
        String root = dir.toString();
        assertBadArguments("--codec: unknown feature codec [int4], valid: [fp32, fp16, int8]", "images", "--model", root,
            "--codec", "int4", "--karpathy", ann, "--image-root", root);
        assertBadArguments("--model [" + root + "] is not a usable model bundle: bundle [" + root + "] has no [manifest.json]",
            "images", "--model", root, "--karpathy", ann, "--image-root", root);
    }

    @Test
    void indexNamesFollowElasticsearchRules() throws Exception {
        String ann = annotations().toString();
        String root = dir.toString();
        assertBadArguments("INDEX [Images] must be lower case", "Images", "--model", root, "--karpathy", ann, "--image-root", root);
        assertBadArguments("INDEX [_images] must not start with", "_images", "--model", root, "--karpathy", ann, "--image-root", root);
        assertBadArguments("INDEX [a,b] must not contain", "a,b", "--model", root, "--karpathy", ann, "--image-root", root);
    }

    @Test
    void connectionOptionsAreChecked() throws Exception {
        assertBadArguments("--url [ftp://127.0.0.1] must be an http:// or https:// URL", "images", "--server-side", "--pipeline", "p",
            "--karpathy", annotations().toString(), "--image-root", dir.toString(), "--url", "ftp://127.0.0.1");
        assertBadArguments("--ca-cert [" + dir.resolve("ca.crt") + "] cannot be read", "images", "--server-side", "--pipeline", "p",
            "--karpathy", annotations().toString(), "--image-root", dir.toString(), "--url", "https://127.0.0.1:1",
            "--ca-cert", dir.resolve("ca.crt").toString());
    }

    @Test
    void anUnreachableClusterIsExitOneNamingTheUrlAndTheAttempts() throws Exception {
        Result result = run("images", "--server-side", "--pipeline", "p", "--karpathy", annotations().toString(),
            "--image-root", dir.toString(), "--url", "http://127.0.0.1:1", "--retries", "2", "--backoff-ms", "1",
            "--dead-letter", dir.resolve("dl.jsonl").toString());
        assertEquals(1, result.exitCode(), result.err());
        assertTrue(result.err().contains("error: cannot reach [http://127.0.0.1:1] after 3 attempts: "), result.err());
        assertTrue(result.err().contains("Connection refused"), result.err());
        assertEquals("", result.out());
    }
}
