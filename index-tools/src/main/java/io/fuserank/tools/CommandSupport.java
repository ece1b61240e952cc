package io.fuserank.tools;

import io.fuserank.encoder.ModelBundle;
import io.fuserank.encoder.Precision;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/** What the subcommands share: bad-argument errors (exit 2), job failures (exit 1), the model directory. */
final class CommandSupport {

    static final int OK = 0;
    static final int FAILED = 1;

    private CommandSupport() {
    }

    /** A bad-argument error: picocli prints the message and the usage to stderr and exits 2. */
    static CommandLine.ParameterException usage(CommandSpec spec, String message) {
        return new CommandLine.ParameterException(spec.commandLine(), message);
    }

    /** A failed job: prints {@code error: message} to the command's stderr and returns exit code 1. */
    static int fail(CommandSpec spec, String message) {
        spec.commandLine().getErr().println("error: " + message);
        spec.commandLine().getErr().flush();
        return FAILED;
    }

    /** A progress or log line on stderr. */
    static void log(CommandSpec spec, String format, Object... args) {
        spec.commandLine().getErr().println(String.format(Locale.ROOT, format, args));
        spec.commandLine().getErr().flush();
    }

    /** The model directory must exist and hold a manifest; otherwise a bad-argument error naming it. */
    static Path modelDirectory(CommandSpec spec, Path model) {
        if (Files.isDirectory(model) == false) {
            throw usage(spec, "--model [" + model + "] is not a directory (a model bundle, e.g. models/fuserank-small)");
        }
        if (Files.isRegularFile(model.resolve("manifest.json")) == false) {
            throw usage(spec, "--model [" + model + "] has no manifest.json: not a model bundle");
        }
        return model;
    }

    /** Loads and validates the bundle; a missing or broken bundle is a bad-argument error naming it. */
    static ModelBundle loadBundle(CommandSpec spec, Path model) {
        modelDirectory(spec, model);
        ModelBundle bundle;
        try {
            bundle = ModelBundle.load(model);
        } catch (ModelBundle.BundleException e) {
            throw usage(spec, "--model [" + model + "] is not a usable model bundle: " + e.getMessage());
        }
        String noItc = withoutItc(bundle, model);
        if (noItc != null) {
            throw usage(spec, noItc);
        }
        return bundle;
    }

    /**
     * Why the CLI cannot use {@code bundle}, or null: it indexes and searches with one model's vectors
     * and fusion graph, so a model without ITC (BridgeTower, ViLT) is served by the plugin only,
     * paired with a first-stage model (docs/plugin.md).
     */
    static String withoutItc(ModelBundle bundle, Path model) {
        return bundle.hasEmbedding() ? null : "--model [" + model + "] has no ITC embedding (" + ModelBundle.NO_EMBEDDING
            + "); the CLI works with one model, so serve it through the plugin, paired with a first-stage model in the ingest "
            + "pipeline and as the fuserank_itm model (docs/plugin.md)";
    }

    /** The model id the plugin knows a bundle by: its directory's name. */
    static String modelId(Path model) {
        Path name = model.toAbsolutePath().normalize().getFileName();
        return name == null ? model.toString() : name.toString();
    }

    /** {@code --precision fp32|int8}: which of the bundle's graphs to run (absent: the manifest's {@code precisions.default}). */
    static final class PrecisionConverter implements CommandLine.ITypeConverter<Precision> {
        @Override
        public Precision convert(String value) {
            try {
                return Precision.fromLabel(value);
            } catch (IllegalArgumentException e) {
                throw new CommandLine.TypeConversionException(e.getMessage());
            }
        }
    }

    /** A bad-argument error where {@code bundle} has no graphs of the asked {@code precision} (null: its own, always there). */
    static void requirePrecision(CommandSpec spec, ModelBundle bundle, Precision precision) {
        String problem = precisionProblem(bundle, precision);
        if (problem != null) {
            throw usage(spec, problem);
        }
    }

    /** Why {@code bundle} cannot run in {@code precision}, or null. */
    static String precisionProblem(ModelBundle bundle, Precision precision) {
        if (precision == null) {
            return null;
        }
        try {
            bundle.requirePrecision(precision);
            return null;
        } catch (IllegalArgumentException e) {
            return "--precision [" + precision.label() + "]: " + e.getMessage();
        }
    }
}
