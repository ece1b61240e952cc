package io.fuserank.encoder;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * A model bundle directory as {@code encoder/training/export.py} or an importer writes it: three
 * ONNX graphs, {@code tokenizer.json}, {@code manifest.json} and reference outputs.
 *
 * <p>{@link #load} checks the whole contract before anything runs a model: the format version,
 * every listed file's presence and sha256, the token-feature codec, and each graph's input and
 * output names, element types and shapes against what ONNX Runtime reads from the graph itself,
 * the text rule ({@link TextRule}) and the declared fusion inputs ({@link FusionDeclaration}).
 * Every failure is a {@link BundleException} naming the file and the manifest field.
 */
public final class ModelBundle {

    /** The bundle layout version this code reads ({@code format_version} in the manifest). */
    public static final int FORMAT_VERSION = 1;

    public static final Set<String> CODECS = Set.of("fp32", "fp16", "int8");

    /** Graph keys in {@code manifest.graphs}. */
    public static final List<String> GRAPHS = List.of("image_encoder", "text_encoder", "fusion_itm");

    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path directory;
    private final JsonNode manifest;
    private FusionDeclaration fusion;
    private TextRule textRule;

    private ModelBundle(Path directory, JsonNode manifest) {
        this.directory = directory;
        this.manifest = manifest;
    }

    /** A bundle's contract is broken: {@link #getMessage()} names the file and the field. */
    public static final class BundleException extends IOException {
        public BundleException(String message) {
            super(message);
        }

        public BundleException(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /**
     * Reads and validates the bundle in {@code directory}. Opening the three graphs to check their
     * signatures costs one ONNX Runtime session each; they are closed again before returning.
     */
    public static ModelBundle load(Path directory) throws BundleException {
        Path manifestPath = directory.resolve("manifest.json");
        JsonNode manifest;
        try (InputStream in = Files.newInputStream(manifestPath)) {
            manifest = JSON.readTree(in);
        } catch (NoSuchFileException e) {
            throw new BundleException("bundle [" + directory + "] has no [manifest.json]");
        } catch (IOException e) {
            throw new BundleException("cannot parse [" + manifestPath + "]: " + e.getMessage(), e);
        }
        ModelBundle bundle = new ModelBundle(directory, manifest);
        bundle.checkFormat();
        bundle.checkFiles();
        bundle.checkCodec();
        bundle.checkItcWeight();
        bundle.checkPrecisions();
        bundle.checkGraphs();
        bundle.checkEmbedding();
        bundle.checkLayouts();
        bundle.checkText();
        bundle.checkFusion();
        return bundle;
    }

    public Path directory() {
        return directory;
    }

    public String name() {
        return manifest.path("name").asText(directory.getFileName().toString());
    }

    /** The fp32 graph {@code key} ({@code graphs.<key>.file}). */
    public Path graph(String key) {
        return directory.resolve(manifest.path("graphs").path(key).path("file").asText());
    }

    /**
     * The graph {@code key} in {@code precision}: {@code graphs.<key>.file} for fp32,
     * {@code precisions.<precision>.graphs.<key>.file} otherwise.
     *
     * @throws IllegalArgumentException where the bundle has no graphs of that precision, naming what it has
     */
    public Path graph(String key, Precision precision) {
        if (precision == Precision.FP32) {
            return graph(key);
        }
        requirePrecision(precision);
        return directory.resolve(manifest.path("precisions").path(precision.label()).path("graphs").path(key).path("file").asText());
    }

    /** @throws IllegalArgumentException where the bundle has no graphs of {@code precision}, naming what it has */
    public void requirePrecision(Precision precision) {
        if (precisions().contains(precision) == false) {
            throw new IllegalArgumentException("model [" + name() + "] has no [" + precision.label() + "] graphs: it has "
                + precisions().stream().map(Precision::label).toList() + " (manifest field [precisions])");
        }
    }

    /** The precisions the bundle has graphs of: fp32, plus those of its manifest's {@code precisions} section. */
    public Set<Precision> precisions() {
        Set<Precision> out = java.util.EnumSet.of(Precision.FP32);
        manifest.path("precisions").fieldNames().forEachRemaining(name -> {
            if (name.equals("default") == false) {
                out.add(Precision.fromLabel(name)); // checked at load
            }
        });
        return out;
    }

    /** The precision the manifest recommends ({@code precisions.default}); fp32 where it names none. */
    public Precision defaultPrecision() {
        JsonNode label = manifest.path("precisions").path("default");
        return label.isTextual() ? Precision.fromLabel(label.textValue()) : Precision.FP32;
    }

    public Path tokenizer() {
        return directory.resolve(manifest.path("text").path("tokenizer").asText("tokenizer.json"));
    }

    /**
     * Whether the model has an ITC embedding (a manifest {@code embedding} section, and an
     * {@code embedding} output of both encoder graphs). A model without one (BridgeTower's and ViLT's
     * retrieval checkpoints have no ITC head) only reranks: the kNN first stage searches another
     * model's vectors.
     */
    public boolean hasEmbedding() {
        return manifest.path("embedding").isObject();
    }

    /** @throws IllegalStateException where the model has no ITC embedding ({@link #hasEmbedding()}) */
    public int embeddingDim() {
        return requireEmbedding().path("dim").asInt();
    }

    /** @throws IllegalStateException where the model has no ITC embedding ({@link #hasEmbedding()}) */
    public String similarity() {
        return requireEmbedding().path("similarity").asText();
    }

    private JsonNode requireEmbedding() {
        if (hasEmbedding() == false) {
            throw new IllegalStateException("model [" + name() + "] has no ITC embedding: " + NO_EMBEDDING);
        }
        return manifest.path("embedding");
    }

    /** Why a model without an ITC embedding has no vectors; part of every error that says so. */
    public static final String NO_EMBEDDING = "it only reranks, and the kNN first stage searches another model's vectors";

    public int featureWidth() {
        return manifest.path("token_features").path("width").asInt();
    }

    public int featureLayers() {
        return manifest.path("token_features").path("feature_layers").asInt();
    }

    /** Image tokens per feature layer ([CLS] + patches). */
    public int imageTokens() {
        return manifest.path("token_features").path("image_tokens").asInt();
    }

    /**
     * The layout of an image's stored token features: exactly {@link #imageTokens()} tokens per layer,
     * or, for a model whose inputs vary in size (ViLT), {@code token_features.image_tokens_min} to
     * {@link #imageTokens()} (the most an input the resize can produce has).
     */
    public FeatureLayout imageFeatures() {
        JsonNode min = manifest.path("token_features").path("image_tokens_min");
        return min.isIntegralNumber()
            ? new FeatureLayout(featureLayers(), min.asInt(), imageTokens(), featureWidth())
            : FeatureLayout.image(featureLayers(), imageTokens(), featureWidth());
    }

    /** The layout of a caption's stored token features: 1 to {@link #maxTextTokens()} tokens per layer. */
    public FeatureLayout textFeatures() {
        return FeatureLayout.text(featureLayers(), maxTextTokens(), featureWidth());
    }

    public String codec() {
        return manifest.path("token_features").path("codec").asText();
    }

    public int maxTextTokens() {
        return manifest.path("text").path("max_tokens").asInt();
    }

    /** How a text is prepared before tokenization ({@code text.preprocessing}). */
    public TextRule textRule() {
        return textRule;
    }

    /** The padding id of token-id batches ({@code text.pad_id}, 0 where absent). */
    public long padId() {
        return manifest.path("text").path("pad_id").asLong(0);
    }

    /**
     * The text embedding table's size: {@code text.vocab_size}, else {@code model.config.vocab_size}
     * (our own export's config); 0 where neither is given.
     */
    public int vocabSize() {
        JsonNode size = manifest.path("text").path("vocab_size");
        return (size.isIntegralNumber() ? size : manifest.path("model").path("config").path("vocab_size")).asInt(0);
    }

    /** The bounds of a stored caption's token ids: 1 to {@link #maxTextTokens()} ids below {@link #vocabSize()}. */
    public TokenIdsCodec.Limits tokenIdLimits() {
        return new TokenIdsCodec.Limits(maxTextTokens(), vocabSize());
    }

    /** The declared fusion inputs ({@code fusion}), checked against the graphs at load. */
    public FusionDeclaration fusion() {
        return fusion;
    }

    /** The square input's side; 0 for a model whose inputs vary in size (no {@code image.size}). */
    public int imageSize() {
        return manifest.path("image").path("size").asInt();
    }

    /**
     * The weight W of the ITC dot product in the reranked score {@code ITM logit + W * ITC} that the
     * bundle recommends ({@code rerank.itc_weight}, chosen on a validation split by
     * {@code encoder/training/blend_weight.py}); 1, BLIP's sum (arXiv 2201.12086), where the manifest
     * names none, as bundles exported before the field existed do.
     */
    public float itcWeight() {
        JsonNode weight = manifest.path("rerank").path("itc_weight");
        return weight.isNumber() ? weight.floatValue() : 1f;
    }

    public long fusionFlopsPerPair() {
        return manifest.path("fusion_flops_per_pair").asLong();
    }

    /** The raw manifest, for fields this class has no accessor for. */
    public JsonNode manifest() {
        return manifest;
    }

    private void checkFormat() throws BundleException {
        int version = required(manifest, "format_version").asInt(-1);
        if (version != FORMAT_VERSION) {
            throw new BundleException(
                "[manifest.json] field [format_version] is [" + version + "]; this fuserank reads [" + FORMAT_VERSION + "]"
            );
        }
    }

    private void checkFiles() throws BundleException {
        JsonNode files = required(manifest, "files");
        for (Iterator<Map.Entry<String, JsonNode>> it = files.fields(); it.hasNext();) {
            Map.Entry<String, JsonNode> entry = it.next();
            Path file = directory.resolve(entry.getKey()).normalize();
            if (file.startsWith(directory.normalize()) == false) {
                throw new BundleException("[manifest.json] field [files] names [" + entry.getKey() + "] outside the bundle");
            }
            if (Files.isRegularFile(file) == false) {
                throw new BundleException("bundle file [" + entry.getKey() + "] listed in [manifest.json] field [files] is missing");
            }
            String expected = required(entry.getValue(), "sha256").asText();
            String actual = sha256(file);
            if (actual.equals(expected) == false) {
                throw new BundleException(
                    "bundle file [" + entry.getKey() + "] has sha256 [" + actual + "] but [manifest.json] field [files."
                        + entry.getKey() + ".sha256] says [" + expected + "]"
                );
            }
        }
        for (String key : GRAPHS) {
            String file = required(required(required(manifest, "graphs"), key), "file").asText();
            if (files.has(file) == false) {
                throw new BundleException("graph [" + file + "] of [graphs." + key + "] is not listed in [manifest.json] field [files]");
            }
        }
        String tokenizer = required(required(manifest, "text"), "tokenizer").asText();
        if (files.has(tokenizer) == false) {
            throw new BundleException("tokenizer [" + tokenizer + "] is not listed in [manifest.json] field [files]");
        }
    }

    private void checkCodec() throws BundleException {
        String codec = required(required(manifest, "token_features"), "codec").asText();
        if (CODECS.contains(codec) == false) {
            throw new BundleException(
                "[manifest.json] field [token_features.codec] is [" + codec + "]; valid codecs: " + CODECS.stream().sorted().toList()
            );
        }
    }

    private void checkItcWeight() throws BundleException {
        JsonNode weight = manifest.path("rerank").path("itc_weight");
        if (weight.isMissingNode()) {
            return;
        }
        if (weight.isNumber() == false || Float.isFinite(weight.floatValue()) == false || weight.floatValue() < 0) {
            throw new BundleException("[manifest.json] field [rerank.itc_weight] must be a finite number >= 0, got [" + weight + "]");
        }
    }

    /** The {@code embedding} section and the encoder graphs' {@code embedding} outputs agree: both present or both absent. */
    private void checkEmbedding() throws BundleException {
        JsonNode embedding = manifest.path("embedding");
        if (embedding.isMissingNode() == false && embedding.isObject() == false) {
            throw new BundleException("[manifest.json] field [embedding] is [" + embedding + "]; expected an object with dim and "
                + "similarity, or no field for a model without ITC");
        }
        if (hasEmbedding()) {
            JsonNode dim = embedding.path("dim");
            if (dim.isIntegralNumber() == false || dim.asInt() < 1) {
                throw new BundleException("[manifest.json] field [embedding.dim] must be a positive integer, got [" + dim + "]");
            }
            if (embedding.path("similarity").isTextual() == false) {
                throw new BundleException("[manifest.json] field [embedding.similarity] must be a string, got ["
                    + embedding.path("similarity") + "]");
            }
        }
        for (String key : List.of("image_encoder", "text_encoder")) {
            boolean output = false;
            for (JsonNode t : manifest.path("graphs").path(key).path("outputs")) {
                output |= t.path("name").asText().equals("embedding");
            }
            if (output != hasEmbedding()) {
                throw new BundleException("[manifest.json] field [graphs." + key + ".outputs] " + (output ? "has" : "lacks")
                    + " [embedding] but field [embedding] is " + (hasEmbedding() ? "present" : "absent"));
            }
        }
    }

    /** The token-feature layouts the manifest declares are possible ones. */
    private void checkLayouts() throws BundleException {
        try {
            imageFeatures();
            textFeatures();
        } catch (IllegalArgumentException e) {
            throw new BundleException("[manifest.json] field [token_features] (or [text.max_tokens]) declares no possible layout: "
                + e.getMessage(), e);
        }
    }

    private void checkText() throws BundleException {
        try {
            textRule = TextRule.fromManifest(manifest.path("text"));
        } catch (IllegalArgumentException e) {
            throw new BundleException(e.getMessage(), e);
        }
    }

    private void checkFusion() throws BundleException {
        try {
            fusion = FusionDeclaration.fromManifest(manifest);
        } catch (IllegalArgumentException e) {
            throw new BundleException(e.getMessage(), e);
        }
        boolean storesIds = fusion.stores(FusionDeclaration.Modality.TEXT).filter(q -> q == FusionDeclaration.Quantity.TOKEN_IDS)
            .isPresent();
        if (storesIds && vocabSize() < 1) {
            throw new BundleException("[manifest.json] field [text.vocab_size] is missing: caption documents store token ids, "
                + "which are checked against it");
        }
    }

    private void checkGraphs() throws BundleException {
        OrtEnvironment environment = OrtEnvironment.getEnvironment();
        for (Precision precision : precisions()) {
            for (String key : GRAPHS) {
                // Every precision's graph has the fp32 graph's signature, as graphs.<key> declares it.
                JsonNode spec = manifest.path("graphs").path(key);
                Path file = graph(key, precision);
                try (OrtSession.SessionOptions options = new OrtSession.SessionOptions();
                     OrtSession session = environment.createSession(file.toString(), options)) {
                    checkSignature(key, "inputs", required(spec, "inputs"), session.getInputInfo(), file);
                    checkSignature(key, "outputs", required(spec, "outputs"), session.getOutputInfo(), file);
                } catch (OrtException e) {
                    throw new BundleException("ONNX Runtime cannot load graph [" + directory.relativize(file) + "]: " + e.getMessage(), e);
                }
            }
        }
    }

    /**
     * {@code precisions}: an object whose {@code default} names a precision the bundle has, and whose
     * other fields are precisions ({@link Precision#labels()}) each naming a listed file for every graph.
     */
    private void checkPrecisions() throws BundleException {
        JsonNode precisions = manifest.path("precisions");
        if (precisions.isMissingNode()) {
            return;
        }
        if (precisions.isObject() == false) {
            throw new BundleException("[manifest.json] field [precisions] is [" + precisions + "]; expected an object");
        }
        for (Iterator<Map.Entry<String, JsonNode>> it = precisions.fields(); it.hasNext();) {
            Map.Entry<String, JsonNode> entry = it.next();
            if (entry.getKey().equals("default")) {
                continue;
            }
            Precision precision;
            try {
                precision = Precision.fromLabel(entry.getKey());
            } catch (IllegalArgumentException e) {
                throw new BundleException("[manifest.json] field [precisions] has " + e.getMessage());
            }
            if (precision == Precision.FP32) {
                throw new BundleException("[manifest.json] field [precisions.fp32] must not exist: the fp32 graphs are [graphs]");
            }
            for (String key : GRAPHS) {
                String field = "precisions." + entry.getKey() + ".graphs." + key + ".file";
                JsonNode file = entry.getValue().path("graphs").path(key).path("file");
                if (file.isTextual() == false) {
                    throw new BundleException("[manifest.json] is missing field [" + field + "]");
                }
                if (manifest.path("files").has(file.textValue()) == false) {
                    throw new BundleException("graph [" + file.textValue() + "] of [" + field + "] is not listed in [manifest.json] field [files]");
                }
            }
        }
        JsonNode label = precisions.path("default");
        if (label.isMissingNode() == false) {
            Precision precision;
            try {
                precision = Precision.fromLabel(label.asText());
            } catch (IllegalArgumentException e) {
                throw new BundleException("[manifest.json] field [precisions.default] has " + e.getMessage());
            }
            if (precisions().contains(precision) == false) {
                throw new BundleException("[manifest.json] field [precisions.default] is [" + label.asText() + "], which has no graphs");
            }
        }
    }

    private void checkSignature(String key, String side, JsonNode declared, Map<String, NodeInfo> actual, Path file)
        throws BundleException {
        String field = "graphs." + key + "." + side;
        List<String> declaredNames = new ArrayList<>();
        declared.forEach(t -> declaredNames.add(t.path("name").asText()));
        if (declaredNames.equals(new ArrayList<>(actual.keySet())) == false) {
            throw new BundleException(
                "graph [" + directory.relativize(file) + "] has " + side + " " + actual.keySet() + " but [manifest.json] field ["
                    + field + "] declares " + declaredNames
            );
        }
        for (JsonNode tensor : declared) {
            String name = tensor.path("name").asText();
            TensorInfo info = (TensorInfo) actual.get(name).getInfo();
            String dtype = tensor.path("dtype").asText();
            if (dtype.equals(dtypeName(info.type)) == false) {
                throw new BundleException(
                    "graph [" + directory.relativize(file) + "] tensor [" + name + "] is [" + dtypeName(info.type)
                        + "] but [manifest.json] field [" + field + "] says [" + dtype + "]"
                );
            }
            checkShape(file, field, name, tensor.path("shape"), info.getShape());
        }
    }

    /** A declared number must be that number in the graph (or dynamic there); a declared name must be dynamic. */
    private void checkShape(Path file, String field, String name, JsonNode declared, long[] actual) throws BundleException {
        boolean matches = declared.size() == actual.length;
        for (int i = 0; matches && i < actual.length; i++) {
            JsonNode axis = declared.get(i);
            matches = axis.isInt() ? (actual[i] == axis.asLong() || actual[i] < 0) : actual[i] < 0;
        }
        if (matches == false) {
            throw new BundleException(
                String.format(
                    Locale.ROOT,
                    "graph [%s] tensor [%s] has shape %s but [manifest.json] field [%s] declares %s (-1 is dynamic)",
                    directory.relativize(file),
                    name,
                    java.util.Arrays.toString(actual),
                    field,
                    declared
                )
            );
        }
    }

    private static String dtypeName(OnnxJavaType type) {
        return switch (type) {
            case FLOAT -> "float32";
            case INT64 -> "int64";
            case INT32 -> "int32";
            case FLOAT16 -> "float16";
            default -> type.name().toLowerCase(Locale.ROOT);
        };
    }

    private static JsonNode required(JsonNode node, String field) throws BundleException {
        JsonNode value = node.get(field);
        if (value == null || value.isNull()) {
            throw new BundleException("[manifest.json] is missing field [" + field + "]");
        }
        return value;
    }

    private static String sha256(Path file) throws BundleException {
        try (InputStream in = Files.newInputStream(file)) {
            MessageDigest digest = MessageDigest.getInstance("SHA-256");
            byte[] buffer = new byte[1 << 16];
            for (int read; (read = in.read(buffer)) > 0;) {
                digest.update(buffer, 0, read);
            }
            return HexFormat.of().formatHex(digest.digest());
        } catch (IOException | NoSuchAlgorithmException e) {
            throw new BundleException("cannot read bundle file [" + file + "]: " + e.getMessage(), e);
        }
    }
}
