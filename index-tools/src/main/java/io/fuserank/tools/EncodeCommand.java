package io.fuserank.tools;

import ai.onnxruntime.OrtException;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.fuserank.encoder.DocumentStorage;
import io.fuserank.encoder.Encoding;
import io.fuserank.encoder.FeatureCodec;
import io.fuserank.encoder.FusionDeclaration.Modality;
import io.fuserank.encoder.FusionDeclaration.Quantity;
import io.fuserank.encoder.ImageEncoder;
import io.fuserank.encoder.ImagePreprocessor;
import io.fuserank.encoder.InferenceOptions;
import io.fuserank.encoder.ModelBundle;
import io.fuserank.encoder.Precision;
import io.fuserank.encoder.TextEncoder;
import io.fuserank.encoder.TextTokenizer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code fuserank encode}: texts or images through the bundle's encoders on this machine, one JSON
 * line per input on stdout: the ITC embedding, the token count and optionally the token-feature
 * blob (what the ingest processor would store). An input that cannot be encoded gets an
 * {@code error} line of its own; the command then exits 1 after all the others.
 */
@Command(name = "encode", mixinStandardHelpOptions = true, versionProvider = FuseRankCli.Version.class,
    description = {
        "Encode texts or images with a model bundle on this machine (no cluster). One JSON line per input: "
            + "{\"input\": ..., \"embedding\": [...], \"tokens\": n}, plus \"codec\" and \"features\" (the token-feature "
            + "blob the index stores, base64) with --features. An input that fails is {\"input\": ..., \"error\": ...} "
            + "and the exit code is then 1."
    })
final class EncodeCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = "--text", arity = "1..*", paramLabel = "TEXT", description = "Texts to encode.")
    List<String> texts;

    @Option(names = "--images", arity = "1..*", paramLabel = "FILE", description = "Image files to encode.")
    List<Path> images;

    @Option(names = "--texts-file", paramLabel = "FILE", description = "A UTF-8 file with one text per line (blank lines skipped; - is stdin).")
    Path textsFile;

    @Option(names = "--model", required = true, paramLabel = "DIR", description = "The model bundle directory.")
    Path model;

    @Option(names = "--features", description = "Also print the token features as the blob the index stores (base64).")
    boolean features;

    @Option(names = "--codec", paramLabel = "CODEC", description = "The blob's codec with --features: fp32, fp16 or int8 (default: the manifest's).")
    String codec;

    @Option(names = "--batch-size", defaultValue = "16", paramLabel = "N", description = "Inputs per encoder call (default: ${DEFAULT-VALUE}).")
    int batchSize;

    @Option(names = "--precision", converter = CommandSupport.PrecisionConverter.class, paramLabel = "P",
        description = "fp32 or int8: which of the model's graphs to run (default: the model's, its manifest's precisions.default).")
    Precision precision;

    @Option(names = "--threads", defaultValue = "0", paramLabel = "N", description = "ONNX Runtime intra-op threads (default: 0, one per core).")
    int threads;

    @Override
    public Integer call() {
        int given = (texts != null ? 1 : 0) + (images != null ? 1 : 0) + (textsFile != null ? 1 : 0);
        if (given != 1) {
            throw CommandSupport.usage(spec, given == 0 ? "give the inputs: --text TEXT..., --images FILE... or --texts-file FILE"
                : "give only one of --text, --images and --texts-file");
        }
        if (codec != null) {
            try {
                IndexMappings.validateCodec(codec);
            } catch (IllegalArgumentException e) {
                throw CommandSupport.usage(spec, e.getMessage());
            }
            if (features == false) {
                CommandSupport.log(spec, "warning: --codec [%s] only applies with --features", codec);
            }
        }
        if (batchSize < 1) {
            throw CommandSupport.usage(spec, "--batch-size [" + batchSize + "] must be at least 1");
        }
        if (threads < 0) {
            throw CommandSupport.usage(spec, "--threads [" + threads + "] must be 0 (automatic) or more");
        }
        List<String> textInputs = textsFile != null ? readTexts() : texts;
        ModelBundle bundle = CommandSupport.loadBundle(spec, model);
        FeatureCodec blobCodec = FeatureCodec.fromLabel(codec != null ? codec : bundle.codec());
        storage = DocumentStorage.of(bundle);
        CommandSupport.requirePrecision(spec, bundle, precision);
        InferenceOptions options = InferenceOptions.cpu(threads).withPrecision(precision);
        PrintWriter out = spec.commandLine().getOut();
        int failed;
        try {
            failed = textInputs != null ? encodeTexts(bundle, options, blobCodec, textInputs, out)
                : encodeImages(bundle, options, blobCodec, images, out);
        } catch (OrtException e) {
            out.flush();
            return CommandSupport.fail(spec, "ONNX Runtime failed: " + e.getMessage());
        }
        out.flush();
        int total = textInputs != null ? textInputs.size() : images.size();
        CommandSupport.log(spec, "encoded %d of %d inputs with [%s]%s", total - failed, total, CommandSupport.modelId(model),
            failed == 0 ? "" : String.format(Locale.ROOT, ", %d failed", failed));
        return failed == 0 ? CommandSupport.OK : CommandSupport.FAILED;
    }

    private List<String> readTexts() {
        try (BufferedReader reader = "-".equals(textsFile.toString())
            ? new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))
            : Files.newBufferedReader(textsFile, StandardCharsets.UTF_8)) {
            List<String> lines = new ArrayList<>();
            for (String line; (line = reader.readLine()) != null;) {
                if (line.isBlank() == false) {
                    lines.add(line);
                }
            }
            if (lines.isEmpty()) {
                throw CommandSupport.usage(spec, "--texts-file [" + textsFile + "] has no texts");
            }
            return lines;
        } catch (IOException e) {
            throw CommandSupport.usage(spec, "--texts-file [" + textsFile + "] cannot be read: " + e);
        }
    }

    private int encodeTexts(ModelBundle bundle, InferenceOptions options, FeatureCodec blobCodec, List<String> inputs, PrintWriter out)
        throws OrtException {
        int failed = 0;
        try (TextTokenizer tokenizer = TextTokenizer.forBundle(bundle); TextEncoder encoder = new TextEncoder(bundle, tokenizer, options)) {
            for (int from = 0; from < inputs.size(); from += batchSize) {
                List<String> batch = inputs.subList(from, Math.min(inputs.size(), from + batchSize));
                List<TextEncoder.Outcome> encoded = encoder.encodeEach(batch);
                for (int i = 0; i < batch.size(); i++) {
                    TextEncoder.Outcome outcome = encoded.get(i);
                    if (outcome.failed()) {
                        failed++;
                        out.println(error(batch.get(i), outcome.error().getMessage()));
                    } else {
                        out.println(line(batch.get(i), Modality.TEXT, outcome.encoding(), blobCodec));
                    }
                }
                out.flush();
            }
        }
        return failed;
    }

    private int encodeImages(ModelBundle bundle, InferenceOptions options, FeatureCodec blobCodec, List<Path> inputs, PrintWriter out)
        throws OrtException {
        ImagePreprocessor preprocessor = ImagePreprocessor.fromManifest(bundle.manifest().get("image"), ImagePreprocessor.Limits.DEFAULT);
        int failed = 0;
        try (ImageEncoder encoder = new ImageEncoder(bundle, preprocessor, options)) {
            for (int from = 0; from < inputs.size(); from += batchSize) {
                List<Path> batch = inputs.subList(from, Math.min(inputs.size(), from + batchSize));
                // One bad file fails alone: unreadable files here, undecodable ones in encodeEach.
                String[] errors = new String[batch.size()];
                List<byte[]> files = new ArrayList<>();
                for (int i = 0; i < batch.size(); i++) {
                    try {
                        files.add(Files.readAllBytes(batch.get(i)));
                    } catch (IOException e) {
                        errors[i] = "cannot read the file: " + e;
                    }
                }
                List<ImageEncoder.Outcome> encoded = files.isEmpty() ? List.of() : encoder.encodeEach(files);
                int next = 0;
                for (int i = 0; i < batch.size(); i++) {
                    ImageEncoder.Outcome outcome = errors[i] == null ? encoded.get(next++) : null;
                    String error = errors[i] != null ? errors[i] : outcome.failed() ? outcome.error().getMessage() : null;
                    if (error != null) {
                        failed++;
                        out.println(error(batch.get(i).toString(), error));
                    } else {
                        out.println(line(batch.get(i).toString(), Modality.IMAGE, outcome.encoding(), blobCodec));
                    }
                }
                out.flush();
            }
        }
        return failed;
    }

    /** What the model's documents store, set once the bundle is loaded. */
    private DocumentStorage storage;

    private ObjectNode line(String input, Modality modality, Encoding encoding, FeatureCodec blobCodec) {
        ObjectNode node = EsHttp.JSON.createObjectNode();
        node.put("input", input);
        ArrayNode embedding = node.putArray("embedding");
        for (float v : encoding.embedding()) {
            embedding.add(v);
        }
        node.put("tokens", encoding.tokenFeatures() != null ? encoding.tokenFeatures().tokens() : encoding.tokenIds().length);
        byte[] blob = features ? storage.blob(modality, encoding, blobCodec) : null;
        if (blob != null) {
            // A model whose documents of this kind store token ids (a BLIP caption) stores them whatever --codec says.
            boolean ids = storage.stores(modality).orElseThrow() == Quantity.TOKEN_IDS;
            node.put("codec", ids ? Quantity.TOKEN_IDS.label() : blobCodec.label());
            node.put("features", Base64.getEncoder().encodeToString(blob));
        }
        return node;
    }

    private static ObjectNode error(String input, String message) {
        return EsHttp.JSON.createObjectNode().put("input", input).put("error", message);
    }
}
