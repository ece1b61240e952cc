package io.fuserank.tools;

import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.io.PrintStream;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class FuseRankCliTest {

    @Test
    void checkRuntimePrintsTheNativeRuntimeSummary() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        PrintStream original = System.out;
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        try {
            assertEquals(0, FuseRankCli.commandLine().execute("check-runtime"));
        } finally {
            System.setOut(original);
        }
        assertTrue(out.toString(StandardCharsets.UTF_8).contains("onnxruntime 1.29.0"), out.toString(StandardCharsets.UTF_8));
    }

    @Test
    void unknownSubcommandIsABadArgumentExit() {
        CommandLine cli = FuseRankCli.commandLine();
        cli.setErr(new java.io.PrintWriter(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
        assertEquals(2, cli.execute("no-such-command"));
    }
}
