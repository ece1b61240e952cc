package io.fuserank.benchmarks;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.fuserank.encoder.ModelBundle;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.ChainedOptionsBuilder;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.regex.Pattern;

/**
 * Runs the model-runtime JMH benchmarks ({@link ImageEncoderBenchmark}, {@link TextEncoderBenchmark},
 * {@link FusionScorerBenchmark}, {@link GemmBenchmark}) in forked JVMs and prints the
 * {@link SummaryReport}, also written as JSON. The defaults keep the whole run within about
 * five minutes on two cores; the forks get the bundle path, the thread count and the JVM flags
 * ONNX Runtime needs, and inherit this JVM's class path.
 */
@Command(
    name = "model-runtime",
    mixinStandardHelpOptions = true,
    sortOptions = false,
    showDefaultValues = true,
    description = "JMH micro-benchmarks of the Java model runtime (image and text encoders, fusion scorer, GEMM floor), then a summary."
)
public final class ModelRuntimeBenchmarks implements Callable<Integer> {

    private static final List<Class<?>> BENCHMARKS = List.of(
        ImageEncoderBenchmark.class, TextEncoderBenchmark.class, FusionScorerBenchmark.class, GemmBenchmark.class);

    @Spec
    private CommandSpec spec;

    @Option(names = {"-f", "--forks"}, defaultValue = "1", description = "JVM forks per benchmark (0 runs in this JVM).")
    private int forks;

    @Option(names = {"-wi", "--warmup-iterations"}, defaultValue = "3", description = "Warm-up iterations per fork.")
    private int warmupIterations;

    @Option(names = {"-w", "--warmup-time"}, defaultValue = "2s", description = "Time of one warm-up iteration (JMH syntax: 500ms, 2s).")
    private TimeValue warmupTime;

    @Option(names = {"-i", "--iterations"}, defaultValue = "5", description = "Measurement iterations per fork.")
    private int iterations;

    @Option(names = {"-r", "--measurement-time"}, defaultValue = "2s", description = "Time of one measurement iteration.")
    private TimeValue measurementTime;

    @Option(names = "--threads", description = "ONNX Runtime intra-op threads of every session; the default is this machine's core count.")
    private int threads = Runtime.getRuntime().availableProcessors();

    @Option(names = "--bundle", defaultValue = "${sys:" + BenchmarkInputs.BUNDLE_PROPERTY + ":-" + BenchmarkInputs.DEFAULT_BUNDLE + "}",
        description = "Model bundle directory.")
    private Path bundle;

    @Option(names = "--json", defaultValue = "${sys:fuserank.benchmarks.json:-benchmarks/target/model-runtime.json}",
        description = "Where to write the results as JSON.")
    private Path json;

    @Option(names = "--include", description = "Run only the benchmarks whose name matches this regular expression "
        + "(JMH's -include); the summary leaves out what did not run.")
    private String include;

    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }

    static CommandLine commandLine() {
        return new CommandLine(new ModelRuntimeBenchmarks()).registerConverter(TimeValue.class, TimeValue::fromString);
    }

    @Override
    public Integer call() throws Exception {
        validate();
        Path bundleDirectory = bundle.toAbsolutePath().normalize();
        ModelBundle loaded = ModelBundle.load(bundleDirectory);
        String settings = String.format(Locale.ROOT, "forks %d, warm-up %d x %s, measurement %d x %s",
            forks, warmupIterations, warmupTime, iterations, measurementTime);

        List<RunResult> results = new ArrayList<>(new Runner(jmhOptions(bundleDirectory).build()).run());

        SummaryReport report = new SummaryReport(new Measurements(results),
            new SummaryReport.Context(loaded.name(), loaded.fusionFlopsPerPair(), loaded.maxTextTokens(), threads, settings));
        report.print(System.out);
        ObjectMapper mapper = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
        Path out = json.toAbsolutePath();
        Files.createDirectories(out.getParent());
        mapper.writeValue(out.toFile(), report.toJson(mapper));
        System.out.println();
        System.out.println("wrote [" + out + "]");
        return 0;
    }

    private ChainedOptionsBuilder jmhOptions(Path bundleDirectory) {
        ChainedOptionsBuilder options = new OptionsBuilder()
            .forks(forks)
            .warmupIterations(warmupIterations)
            .warmupTime(warmupTime)
            .measurementIterations(iterations)
            .measurementTime(measurementTime)
            .param("threads", Integer.toString(threads))
            .shouldFailOnError(true)
            .jvmArgsAppend(forkJvmArgs(bundleDirectory));
        if (include != null) {
            options.include(include);
        } else {
            BENCHMARKS.forEach(benchmark -> options.include("^" + Pattern.quote(benchmark.getName() + ".")));
        }
        return options;
    }

    /**
     * ONNX Runtime loads its library through JNI, which JDK 24+ warns about (and will refuse)
     * without native access; JMH itself uses sun.misc.Unsafe, which JDK 24+ warns about. The forks
     * run on this JVM, so its version decides which flags exist.
     */
    private static String[] forkJvmArgs(Path bundleDirectory) {
        List<String> args = new ArrayList<>(List.of(
            "--enable-native-access=ALL-UNNAMED",
            "-D" + BenchmarkInputs.BUNDLE_PROPERTY + "=" + bundleDirectory,
            "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn"));
        if (Runtime.version().feature() >= 24) {
            args.add("--sun-misc-unsafe-memory-access=allow");
        }
        return args.toArray(String[]::new);
    }

    private void validate() {
        if (forks < 0) {
            throw new ParameterException(spec.commandLine(), "--forks must be >= 0, got [" + forks + "]");
        }
        if (warmupIterations < 0) {
            throw new ParameterException(spec.commandLine(), "--warmup-iterations must be >= 0, got [" + warmupIterations + "]");
        }
        if (iterations < 1) {
            throw new ParameterException(spec.commandLine(), "--iterations must be >= 1, got [" + iterations + "]");
        }
        if (threads < 1) {
            throw new ParameterException(spec.commandLine(), "--threads must be >= 1, got [" + threads + "]");
        }
    }
}
