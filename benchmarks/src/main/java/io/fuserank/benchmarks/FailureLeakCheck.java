package io.fuserank.benchmarks;

import io.fuserank.encoder.FeatureCodec;
import io.fuserank.encoder.ImageDecodeException.Reason;
import io.fuserank.encoder.ImageEncoder;
import io.fuserank.encoder.ImagePreprocessor;
import io.fuserank.encoder.InferenceOptions;
import io.fuserank.encoder.ModelBundle;
import io.fuserank.encoder.TextEncoder;
import io.fuserank.encoder.TextTokenizer;
import io.fuserank.encoder.TokenFeatures;
import io.fuserank.reranker.CandidateException;
import io.fuserank.reranker.FusionScorer;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;

/**
 * Runs many failing operations through the model runtime and watches the process's resident
 * memory: a failure path that forgets to close an image stream, a reader or a native tensor
 * leaks on every bad file, and a crawl meets bad files by the thousand. Each operation must fail
 * with its documented exception; RSS is sampled (after {@link System#gc()}) once the warm-up
 * has run and every {@code --sample-every} operations, and the check fails when it grew by more
 * than {@code --max-growth-mib} from the first sample to the last.
 *
 * <p>Run it with a fixed, pre-touched heap ({@code bin/leak-check} passes
 * {@code -Xms256m -Xmx256m -XX:+AlwaysPreTouch}) so that the heap's own growth and shrinking
 * cannot pass for a leak or hide one. Exit status: 0 passed, 1 a leak or an unexpected outcome.
 */
@Command(
    name = "leak-check",
    mixinStandardHelpOptions = true,
    sortOptions = false,
    showDefaultValues = true,
    description = "Runs failing image, text and blob operations and checks that RSS does not grow."
)
public final class FailureLeakCheck implements Callable<Integer> {

    private static final long MIB = 1L << 20;

    @Spec
    private CommandSpec spec;

    @Option(names = "--operations", defaultValue = "10000", description = "Failing operations after the warm-up.")
    private int operations;

    @Option(names = "--warmup", defaultValue = "1000", description = "Failing operations before the first RSS sample.")
    private int warmup;

    @Option(names = "--sample-every", defaultValue = "1000", description = "Operations between RSS samples.")
    private int sampleEvery;

    @Option(names = "--max-growth-mib", defaultValue = "32", description = "Largest RSS growth, first sample to last, that passes.")
    private long maxGrowthMib;

    private long performed;

    @Option(names = "--bundle", defaultValue = "${sys:" + BenchmarkInputs.BUNDLE_PROPERTY + ":-" + BenchmarkInputs.DEFAULT_BUNDLE + "}",
        description = "Model bundle directory.")
    private Path bundle;

    public static void main(String[] args) {
        System.exit(new CommandLine(new FailureLeakCheck()).execute(args));
    }

    @Override
    public Integer call() throws Exception {
        validate();
        ModelBundle loaded = ModelBundle.load(bundle.toAbsolutePath().normalize());
        InferenceOptions options = InferenceOptions.cpu(1);
        try (TextTokenizer tokenizer = TextTokenizer.forBundle(loaded);
             TextEncoder text = new TextEncoder(loaded, tokenizer, options);
             FusionScorer scorer = new FusionScorer(loaded, options, FusionFixture.MAX_K)) {
            List<FailureCase> cases = cases(loaded, text, scorer);
            run(cases, warmup);
            List<Long> samples = new ArrayList<>();
            samples.add(sample());
            for (int done = 0; done < operations;) {
                int batch = Math.min(sampleEvery, operations - done);
                run(cases, batch);
                done += batch;
                samples.add(sample());
            }
            return report(cases, samples) ? 0 : 1;
        }
    }

    private List<FailureCase> cases(ModelBundle loaded, TextEncoder text, FusionScorer scorer) throws Exception {
        ImagePreprocessor preprocessor = BenchmarkInputs.preprocessor(loaded);
        List<byte[]> pngs = BenchmarkInputs.referenceImages(loaded);
        byte[] truncatedPng = BrokenInputs.truncated(pngs.get(0));
        byte[] bomb = BrokenInputs.pngBomb();
        byte[] jpeg = BrokenInputs.jpegWithoutFrame();
        byte[] webp = BrokenInputs.webpWithBrokenFrame();
        SplittableRandom random = new SplittableRandom(0);
        String longText = "a".repeat(10_000);

        TokenFeatures query = text.encode(BenchmarkInputs.QUERY).tokenFeatures();
        byte[] goodBlob;
        try (ImageEncoder images = new ImageEncoder(loaded, preprocessor, InferenceOptions.cpu(1))) {
            goodBlob = FeatureCodec.INT8.encode(images.encode(List.of(pngs.get(0))).get(0).tokenFeatures());
        }
        byte[] truncatedBlob = Arrays.copyOf(goodBlob, goodBlob.length - 1);
        byte[] otherModelBlob = FeatureCodec.INT8.encode(
            new TokenFeatures(loaded.featureLayers(), loaded.imageTokens(), loaded.featureWidth() + 1,
                new float[loaded.featureLayers() * loaded.imageTokens() * (loaded.featureWidth() + 1)]));

        return List.of(
            FailureCase.rejecting("random bytes", Reason.UNSUPPORTED_FORMAT, () -> preprocessor.preprocess(BrokenInputs.noise(random, 4096))),
            FailureCase.rejecting("empty image", Reason.EMPTY, () -> preprocessor.preprocess(new byte[0])),
            FailureCase.rejecting("truncated PNG", Reason.CORRUPT, () -> preprocessor.preprocess(truncatedPng)),
            FailureCase.rejecting("30000x30000 PNG header", Reason.TOO_MANY_PIXELS, () -> preprocessor.preprocess(bomb)),
            FailureCase.rejecting("JPEG header, no frame", Reason.CORRUPT, () -> preprocessor.preprocess(jpeg)),
            FailureCase.rejecting("WebP header, broken frame", Reason.CORRUPT, () -> preprocessor.preprocess(webp)),
            FailureCase.throwing("empty text", IllegalArgumentException.class, () -> text.encode("")),
            FailureCase.throwing("10,000-character text", IllegalArgumentException.class, () -> text.encode(longText)),
            FailureCase.throwing("truncated blob", CandidateException.class, () -> scorer.scoreImages(query, List.of(goodBlob, truncatedBlob))),
            FailureCase.throwing("blob of another width", CandidateException.class,
                () -> scorer.scoreImages(query, List.of(goodBlob, otherModelBlob))));
    }

    /** The next {@code count} operations, cycling through the cases across calls so that each gets its share. */
    private void run(List<FailureCase> cases, int count) {
        for (int i = 0; i < count; i++) {
            cases.get((int) (performed++ % cases.size())).runOnce();
        }
    }

    private static long sample() throws IOException {
        System.gc();
        return ProcessMemory.residentBytes();
    }

    /** Prints the tallies and the RSS series; true when every operation failed as expected and RSS stayed within the limit. */
    private boolean report(List<FailureCase> cases, List<Long> samples) {
        System.out.println(String.format(Locale.ROOT, "%-28s %-42s %8s %12s", "case", "expected", "runs", "as expected"));
        boolean allExpected = true;
        for (FailureCase c : cases) {
            System.out.println(String.format(Locale.ROOT, "%-28s %-42s %8d %12d", c.name(), c.expected(), c.runs(), c.asExpected()));
            if (!c.allAsExpected()) {
                allExpected = false;
                System.out.println("  UNEXPECTED: first outcome [" + c.firstUnexpected() + "]");
            }
        }
        System.out.println();
        System.out.println(String.format(Locale.ROOT, "RSS after %d warm-up operations, then every %d (of %d):", warmup, sampleEvery, operations));
        for (int i = 0; i < samples.size(); i++) {
            long done = Math.min((long) i * sampleEvery, operations);
            System.out.println(String.format(Locale.ROOT, "  %8d  %9.1f MiB", done, samples.get(i) / (double) MIB));
        }
        long growth = samples.get(samples.size() - 1) - samples.get(0);
        boolean withinLimit = growth <= maxGrowthMib * MIB;
        System.out.println(String.format(Locale.ROOT, "RSS growth %+.1f MiB (limit %d MiB): %s", growth / (double) MIB, maxGrowthMib,
            withinLimit ? "ok" : "LEAK"));
        System.out.println(allExpected && withinLimit ? "leak check passed" : "leak check FAILED");
        return allExpected && withinLimit;
    }

    private void validate() {
        if (operations < 1) {
            throw new ParameterException(spec.commandLine(), "--operations must be >= 1, got [" + operations + "]");
        }
        if (warmup < 0) {
            throw new ParameterException(spec.commandLine(), "--warmup must be >= 0, got [" + warmup + "]");
        }
        if (sampleEvery < 1) {
            throw new ParameterException(spec.commandLine(), "--sample-every must be >= 1, got [" + sampleEvery + "]");
        }
        if (maxGrowthMib < 0) {
            throw new ParameterException(spec.commandLine(), "--max-growth-mib must be >= 0, got [" + maxGrowthMib + "]");
        }
    }
}
