package io.fuserank.tools;

import co.elastic.clients.elasticsearch.ElasticsearchClient;
import io.fuserank.encoder.FeatureCodec;
import io.fuserank.encoder.ImagePreprocessor;
import io.fuserank.encoder.ModelBundle;
import io.fuserank.encoder.Precision;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;

/**
 * {@code fuserank index}: encodes a collection of images, or the captions of a Karpathy file
 * ({@code --kind caption}), and bulk-indexes them. This class reads and checks the arguments
 * (every mistake is exit code 2 with the offending value in brackets) and wires the parts
 * together; {@link DocumentFactories} picks what turns entries into documents, {@link IndexRun}
 * does the work.
 */
@Command(name = "index", mixinStandardHelpOptions = true, sortOptions = false, usageHelpAutoWidth = true,
    description = {
        "Encode images and bulk-index them into INDEX, whose mapping must be example-queries/mappings/image-index.json's.",
        "Client-side (default) the images are encoded here with --model and documents carry [path], [captions], "
            + "[image_vector] and [image_features]; with --server-side the base64 files go through --pipeline.",
        "With --kind caption, each caption of a --karpathy file is a document of its own in a caption-index.json index: "
            + "[caption], [image_path], [caption_index], [text_vector] and [text_features] (--server-side: the text goes "
            + "through --pipeline).",
        "Document ids come from the image's path relative to the source root (sha1 hex; for a caption, of path#position) "
            + "or a JSONL line's id, so reruns overwrite instead of duplicating; --resume skips ids already indexed.",
        "The summary goes to stdout, progress and logs to stderr, every document not indexed to the dead-letter file."},
    exitCodeListHeading = "%nExit codes:%n",
    exitCodeList = {
        "0:every document indexed (or skipped by --resume)",
        "1:some documents failed (see the dead-letter file), or the cluster could not be reached",
        "2:bad arguments"})
final class IndexCommand implements Callable<Integer> {

    static final int MAX_BATCH = 1024;

    @Spec
    CommandSpec spec;

    @Mixin
    ConnectionOptions connection;

    @Parameters(index = "0", paramLabel = "INDEX", description = "The index (or alias) to write to; it must exist.")
    String index;

    @Option(names = "--kind", paramLabel = "KIND", defaultValue = "image",
        description = "image: a document per image; caption: a document per caption of a --karpathy file, for image-to-text "
            + "search (default: ${DEFAULT-VALUE}).")
    String kindLabel;

    /** {@link #kindLabel} once {@link #validate()} has checked it. */
    private IndexKind kind;

    @ArgGroup(exclusive = true, multiplicity = "1", heading = "%nSource (exactly one):%n")
    Source source;

    static final class Source {
        @Option(names = "--karpathy", paramLabel = "ANN", required = true,
            description = "Karpathy-format annotations [{\"image\": rel_path, \"caption\": [...]}] (needs --image-root).")
        Path karpathy;

        @Option(names = "--dir", paramLabel = "DIR", required = true,
            description = "Every jpg, jpeg, png, gif, bmp and webp file under DIR, without captions.")
        Path dir;

        @Option(names = "--jsonl", paramLabel = "FILE", required = true,
            description = "JSON Lines {\"id\": ..., \"path\": ..., other fields...}; id is optional.")
        Path jsonl;
    }

    @Option(names = "--image-root", paramLabel = "DIR",
        description = "What --karpathy paths (required for images) and relative --jsonl paths (default: the file's directory) are relative to.")
    Path imageRoot;

    @Option(names = "--model", paramLabel = "DIR", description = "The model bundle to encode with (client-side).")
    Path model;

    @Option(names = "--codec", paramLabel = "CODEC",
        description = "Token-feature codec: fp32, fp16 or int8 (default: the model manifest's).")
    String codec;

    @Option(names = "--precision", converter = CommandSupport.PrecisionConverter.class, paramLabel = "P",
        description = "fp32 or int8: which of the model's graphs client-side encoding runs (default: the model's, its manifest's precisions.default).")
    Precision precision;

    @Option(names = "--cuda", description = "Encode on the GPU (needs the -Pgpu build; otherwise the CPU, with a warning).")
    boolean cuda;

    @Option(names = "--threads", paramLabel = "N", description = "Encoding threads (default: one per core, ${DEFAULT-VALUE}).")
    int threads = Runtime.getRuntime().availableProcessors();

    @Option(names = "--batch", paramLabel = "N", defaultValue = "32", description = "Images or captions per encoder call (default: ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--server-side", description = "Send the image files (caption texts) through an ingest pipeline instead of encoding here.")
    boolean serverSide;

    @Option(names = "--pipeline", paramLabel = "NAME", description = "The ingest pipeline for --server-side.")
    String pipeline;

    @Option(names = "--resume", description = "Skip documents whose id is already in the index (checked per batch).")
    boolean resume;

    @Option(names = "--dead-letter", paramLabel = "FILE",
        description = "Where documents that could not be indexed are listed (default: INDEX-dead-letter.jsonl).")
    Path deadLetter;

    @Option(names = "--max-in-flight", paramLabel = "N", defaultValue = "4",
        description = "Bulk requests in flight at once (default: ${DEFAULT-VALUE}).")
    int maxInFlight;

    @Option(names = "--bulk-docs", paramLabel = "N", defaultValue = "200",
        description = "Send a bulk request at this many documents (default: ${DEFAULT-VALUE}) ...")
    int bulkDocs;

    @Option(names = "--bulk-mib", paramLabel = "MIB", defaultValue = "8",
        description = "... or at this many MiB, whichever comes first (default: ${DEFAULT-VALUE}).")
    int bulkMib;

    @Option(names = "--retries", paramLabel = "N", defaultValue = "5",
        description = "Retries of a document after a 429, a 5xx or a connection failure (default: ${DEFAULT-VALUE}).")
    int retries;

    @Option(names = "--backoff-ms", paramLabel = "MS", defaultValue = "500",
        description = "Wait before the first retry, doubled for each further one (default: ${DEFAULT-VALUE}).")
    long backoffMs;

    @Option(names = "--no-progress", description = "No progress display (a bar on a terminal, otherwise a line every 10 s).")
    boolean noProgress;

    @Override
    public Integer call() throws Exception {
        validate();
        long setupStart = System.nanoTime();
        ModelBundle bundle = serverSide ? null : loadModel();
        EntrySource entries = openSource();
        RetryPolicy retryPolicy = new RetryPolicy(retries, Duration.ofMillis(backoffMs));
        String target = connection.urls.stream().map(URI::toString).collect(Collectors.joining(", "));
        try (ElasticsearchClient client = connect()) {
            String problem = preflight(new IndexCheck(client, retryPolicy, target), bundle, target);
            if (problem != null) {
                return fail(problem);
            }
            FeatureCodec features = bundle == null ? null : FeatureCodec.fromLabel(codec != null ? codec : bundle.codec());
            log("%s -> index [%s] at [%s]: %s", entries.describe(), index, target, mode(bundle, features));
            Summary summary = indexAll(client, bundle, features, entries, retryPolicy, target, setupStart);
            summary.print(System.out);
            if (summary.tally().aborted()) {
                return fail(summary.tally().abortReason());
            }
            return summary.tally().failed() > 0 ? 1 : 0;
        }
    }

    /** What makes the index (or pipeline) unfit for this run, or null. */
    private String preflight(IndexCheck check, ModelBundle bundle, String target) {
        try {
            check.checkIndex(index, kind, bundle == null ? null : bundle.embeddingDim());
            if (serverSide) {
                check.checkPipeline(pipeline, kind);
            }
            return null;
        } catch (IllegalStateException | ClusterUnreachableException e) {
            return e.getMessage();
        } catch (Exception e) {
            return "cannot check index [" + index + "] at [" + target + "]: " + Errors.describe(e);
        }
    }

    /** The run itself, from an empty dead-letter file to the summary. */
    private Summary indexAll(ElasticsearchClient client, ModelBundle bundle, FeatureCodec features, EntrySource entries,
                             RetryPolicy retryPolicy, String target, long setupStart) throws Exception {
        long total = entries.size();
        EncoderClock clock = bundle == null ? null : new EncoderClock();
        Path deadLetterFile = deadLetter != null ? deadLetter : Path.of(index + "-dead-letter.jsonl");
        try (DeadLetterFile deadLetters = new DeadLetterFile(deadLetterFile);
             Progress progress = Progress.create(!noProgress, total)) {
            Tally tally = new Tally(deadLetters, progress);
            try (DocumentFactory<?> documents = DocumentFactories.open(kind, bundle, features, cuda, precision, threads,
                ImagePreprocessor.Limits.DEFAULT, tally, clock)) {
                BulkIndexer indexer = new BulkIndexer(client, index, serverSide ? pipeline : null, maxInFlight, bulkDocs,
                    (long) bulkMib << 20, retryPolicy, target, tally);
                ExistingIds existing = resume ? new ExistingIds(client, index, retryPolicy, target) : null;
                long start = System.nanoTime();
                new IndexRun<>(entries, documents, existing, indexer, tally, threads, batch).run();
                double seconds = (System.nanoTime() - start) / 1e9;
                return new Summary(kind, index, mode(bundle, features), entries.describe(), total, tally, seconds,
                    (start - setupStart) / 1e9, threads, clock);
            }
        }
    }

    private String mode(ModelBundle bundle, FeatureCodec features) {
        String bulk = String.format(Locale.ROOT, "bulk %d docs / %d MiB, %d in flight", bulkDocs, bulkMib, maxInFlight);
        if (bundle == null) {
            return String.format(Locale.ROOT, "server-side through pipeline [%s], %d threads reading, %s", pipeline, threads, bulk);
        }
        return String.format(Locale.ROOT, "client-side with [%s] on %s, %s features, %d threads x batch %d, %s",
            bundle.name(), cuda ? "CUDA if available" : "the CPU", features.label(), threads, batch, bulk);
    }

    // ------------------------------------------------------------------ arguments

    private void validate() {
        requireIndexName(index);
        requireRange("--threads", threads, 1, 256);
        requireRange("--batch", batch, 1, MAX_BATCH);
        requireRange("--max-in-flight", maxInFlight, 1, 64);
        requireRange("--bulk-docs", bulkDocs, 1, 100_000);
        requireRange("--bulk-mib", bulkMib, 1, 1024);
        requireRange("--retries", retries, 0, 30);
        requireRange("--backoff-ms", backoffMs, 1, 600_000);
        kind = kind();
        if (kind == IndexKind.CAPTION) {
            validateCaptionSource();
        }
        if (source.karpathy != null) {
            requireFile("--karpathy", source.karpathy);
            if (imageRoot == null && kind == IndexKind.IMAGE) {
                throw bad("--karpathy [" + source.karpathy + "] needs --image-root DIR, the directory its image paths are relative to");
            }
        }
        if (source.dir != null) {
            requireDirectory("--dir", source.dir);
            if (imageRoot != null) {
                throw bad("--image-root [" + imageRoot + "] does not go with --dir: the directory [" + source.dir + "] is the root");
            }
        }
        if (source.jsonl != null) {
            requireFile("--jsonl", source.jsonl);
        }
        if (imageRoot != null) {
            requireDirectory("--image-root", imageRoot);
        }
        if (serverSide) {
            if (pipeline == null) {
                throw bad("--server-side needs --pipeline NAME, the ingest pipeline that encodes the " + kind.label() + "s");
            }
            rejectWithServerSide("--model", model);
            rejectWithServerSide("--codec", codec);
            rejectWithServerSide("--cuda", cuda ? "true" : null);
            rejectWithServerSide("--precision", precision == null ? null : precision.label());
        } else {
            if (pipeline != null) {
                throw bad("--pipeline [" + pipeline + "] is only used with --server-side");
            }
            if (model == null) {
                throw bad("give --model DIR to encode here, or --server-side --pipeline NAME to encode on the node");
            }
            requireDirectory("--model", model);
            if (codec != null) {
                try {
                    FeatureCodec.fromLabel(codec);
                } catch (IllegalArgumentException e) {
                    throw bad("--codec: " + e.getMessage());
                }
            }
        }
        if (deadLetter != null && deadLetter.toAbsolutePath().getParent() != null
            && !Files.isDirectory(deadLetter.toAbsolutePath().getParent())) {
            throw bad("--dead-letter [" + deadLetter + "]: its directory [" + deadLetter.toAbsolutePath().getParent() + "] does not exist");
        }
    }

    private IndexKind kind() {
        try {
            return IndexKind.fromLabel(kindLabel);
        } catch (IllegalArgumentException e) {
            throw bad(e.getMessage());
        }
    }

    /** Captions come from a Karpathy file only, and no image is read: the directory and JSONL sources and --image-root do not apply. */
    private void validateCaptionSource() {
        String notKarpathy = source.dir != null ? "--dir [" + source.dir + "]" : source.jsonl != null ? "--jsonl [" + source.jsonl + "]" : null;
        if (notKarpathy != null) {
            throw bad(notKarpathy + " does not go with --kind caption: captions are indexed from a --karpathy ANN file");
        }
        if (imageRoot != null) {
            throw bad("--image-root [" + imageRoot + "] is not used with --kind caption: no image is read, "
                + "each caption keeps its image's path as the --karpathy file gives it");
        }
    }

    /** Elasticsearch's index name rules, checked here so a typo is exit 2 and not a run of rejected documents. */
    private void requireIndexName(String name) {
        String problem = null;
        if (name.isEmpty() || name.equals(".") || name.equals("..")) {
            problem = "is not a name";
        } else if (!name.equals(name.toLowerCase(Locale.ROOT))) {
            problem = "must be lower case";
        } else if (name.chars().anyMatch(c -> "\\/*?\"<>| ,#:".indexOf(c) >= 0)) {
            problem = "must not contain any of [\\ / * ? \" < > | space , # :]";
        } else if ("-_+".indexOf(name.charAt(0)) >= 0) {
            problem = "must not start with [-], [_] or [+]";
        } else if (name.getBytes(StandardCharsets.UTF_8).length > 255) {
            problem = "must have at most 255 bytes";
        }
        if (problem != null) {
            throw bad("INDEX [" + name + "] " + problem);
        }
    }

    private void requireRange(String option, long value, long min, long max) {
        if (value < min || value > max) {
            throw bad(option + " [" + value + "] must be between " + min + " and " + max);
        }
    }

    private void requireFile(String option, Path file) {
        if (!Files.isRegularFile(file) || !Files.isReadable(file)) {
            throw bad(option + " [" + file + "] is not a readable file");
        }
    }

    private void requireDirectory(String option, Path directory) {
        if (!Files.isDirectory(directory)) {
            throw bad(option + " [" + directory + "] is not a directory");
        }
    }

    private void rejectWithServerSide(String option, Object value) {
        if (value != null) {
            throw bad(option + " [" + value + "] is not used with --server-side: the pipeline's processor encodes the " + kind.label() + "s");
        }
    }

    private ModelBundle loadModel() {
        ModelBundle bundle;
        try {
            bundle = ModelBundle.load(model);
        } catch (ModelBundle.BundleException e) {
            throw bad("--model [" + model + "] is not a usable model bundle: " + e.getMessage());
        }
        String noItc = CommandSupport.withoutItc(bundle, model);
        if (noItc != null) {
            throw bad(noItc);
        }
        String wrongPrecision = CommandSupport.precisionProblem(bundle, precision);
        if (wrongPrecision != null) {
            throw bad(wrongPrecision);
        }
        return bundle;
    }

    private EntrySource openSource() {
        if (source.dir != null) {
            return new DirectorySource(source.dir);
        }
        if (source.jsonl != null) {
            Path root = imageRoot != null ? imageRoot : source.jsonl.toAbsolutePath().getParent();
            return new JsonlSource(source.jsonl, root);
        }
        KarpathyFile annotations = readKarpathy();
        return kind == IndexKind.CAPTION ? annotations.captions() : annotations.images(imageRoot);
    }

    /** A file that is no Karpathy array is a bad argument naming it. */
    private KarpathyFile readKarpathy() {
        try {
            return KarpathyFile.read(source.karpathy);
        } catch (IllegalArgumentException e) {
            throw bad("--karpathy " + e.getMessage());
        } catch (IOException e) {
            throw bad("--karpathy [" + source.karpathy + "] cannot be read: " + Errors.describe(e));
        }
    }

    private ElasticsearchClient connect() {
        try {
            return connection.connect();
        } catch (IllegalArgumentException e) {
            throw bad(e.getMessage());
        } catch (IOException e) {
            throw bad("--ca-cert [" + connection.caCertificate + "] cannot be read: " + Errors.describe(e));
        }
    }

    private ParameterException bad(String message) {
        return new ParameterException(spec.commandLine(), message);
    }

    private static int fail(String message) {
        System.err.println("error: " + message);
        return 1;
    }

    static void log(String format, Object... args) {
        System.err.println("[fuserank index] " + String.format(Locale.ROOT, format, args));
    }
}
