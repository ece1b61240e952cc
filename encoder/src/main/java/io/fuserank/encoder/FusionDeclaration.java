package io.fuserank.encoder;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.ArrayList;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The manifest's {@code fusion} section: what each input of the fusion (ITM) graph is and where it
 * comes from, per search direction, and what each document kind stores. The Java mirror of
 * {@code encoder/training/fusion_contract.py}, so that one runtime serves every model family
 * without special cases: our ALBEF-style fusion encoder reads the text encoder's token features,
 * BLIP's ITM runs its whole text encoder with cross-attention from the token ids (BLIP, Li et al.
 * 2022, §3.1: the image-grounded text encoder), so a BLIP caption document stores its ids.
 *
 * <p>{@link #fromManifest} checks what {@code fusion_contract.check_manifest} checks (input names
 * and order against the graph, each quantity's modality, a {@code token_features} source whose
 * encoder graph has that output, a document that stores what a direction reads) plus what this
 * runtime needs: each input's dtype, and one stored quantity per document kind (a document's
 * single blob field). A bundle without the section, as bundles exported before it existed, gets
 * the declaration {@code export.py} writes for our own graphs ({@link #OWN_INPUTS}).
 */
public record FusionDeclaration(String graph, Map<Direction, List<Input>> directions, Map<Modality, Optional<Quantity>> stored) {

    /** A modality, and the document kind that holds it. */
    public enum Modality {
        TEXT("text", "caption", "text_encoder"),
        IMAGE("image", "image", "image_encoder");

        private final String label;
        private final String document;
        private final String encoderGraph;

        Modality(String label, String document, String encoderGraph) {
            this.label = label;
            this.document = document;
            this.encoderGraph = encoderGraph;
        }

        public String label() {
            return label;
        }

        /** The document kind in {@code fusion.documents}: {@code caption} or {@code image}. */
        public String document() {
            return document;
        }
    }

    /** A search direction: the query's modality and the candidates' one. */
    public enum Direction {
        TEXT_TO_IMAGE("text_to_image", Modality.TEXT, Modality.IMAGE),
        IMAGE_TO_TEXT("image_to_text", Modality.IMAGE, Modality.TEXT);

        private final String label;
        private final Modality query;
        private final Modality candidate;

        Direction(String label, Modality query, Modality candidate) {
            this.label = label;
            this.query = query;
            this.candidate = candidate;
        }

        public String label() {
            return label;
        }

        public Modality query() {
            return query;
        }

        public Modality candidate() {
            return candidate;
        }

        /** The direction whose query has {@code modality}. */
        public static Direction withQuery(Modality modality) {
            return modality == Modality.TEXT ? TEXT_TO_IMAGE : IMAGE_TO_TEXT;
        }
    }

    /** Whose quantity an input is. */
    public enum Side {
        QUERY, CANDIDATE;

        String label() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /** What an input holds; {@code fusion_contract.QUANTITIES}. */
    public enum Quantity {
        /** The tokenizer's ids, int64 [batch, tokens]; a candidate's are its stored ids. */
        TOKEN_IDS("token_ids", "int64", true, Set.of(Modality.TEXT)),
        /** 1 on the text's real tokens, 0 on padding, int64 [batch, tokens]; never stored. */
        ATTENTION_MASK("attention_mask", "int64", false, Set.of(Modality.TEXT)),
        /** The encoder's token features, float32 [batch, layer_tokens, width]; a candidate's are its stored blob. */
        TOKEN_FEATURES("token_features", "float32", true, Set.of(Modality.TEXT, Modality.IMAGE)),
        /** 1 on each token row, 0 on batch padding, int64 [batch, tokens_per_layer]; never stored. */
        TOKEN_MASK("token_mask", "int64", false, Set.of(Modality.TEXT, Modality.IMAGE));

        private final String label;
        private final String dtype;
        private final boolean stored;
        private final Set<Modality> modalities;

        Quantity(String label, String dtype, boolean stored, Set<Modality> modalities) {
            this.label = label;
            this.dtype = dtype;
            this.stored = stored;
            this.modalities = modalities;
        }

        public String label() {
            return label;
        }

        /** Whether a candidate's value comes from its stored blob (else it is derived from it). */
        public boolean stored() {
            return stored;
        }

        static List<String> labels() {
            return java.util.Arrays.stream(values()).map(Quantity::label).toList();
        }

        static Optional<Quantity> byLabel(String label) {
            for (Quantity q : values()) {
                if (q.label.equals(label)) {
                    return Optional.of(q);
                }
            }
            return Optional.empty();
        }
    }

    /** One fusion-graph input: its name and where its value comes from. */
    public record Input(String name, Side side, Quantity quantity) {
        public String source() {
            return side.label() + "." + quantity.label();
        }
    }

    /**
     * Our own fusion graph's inputs by modality ({@code export.FUSION_INPUTS}): the text encoder's
     * token features and the tokenizer's mask, the image encoder's token features and a mask over
     * their rows. The declaration of every bundle without a {@code fusion} section.
     */
    public static final Map<String, String> OWN_INPUTS = ownInputs();

    private static Map<String, String> ownInputs() {
        Map<String, String> inputs = new LinkedHashMap<>();
        inputs.put("text_features", "text.token_features");
        inputs.put("text_mask", "text.attention_mask");
        inputs.put("image_features", "image.token_features");
        inputs.put("image_mask", "image.token_mask");
        return java.util.Collections.unmodifiableMap(inputs);
    }

    public FusionDeclaration {
        directions = Map.copyOf(directions);
        stored = Map.copyOf(stored);
    }

    /** The inputs of {@code direction}, in the graph's order. */
    public List<Input> inputs(Direction direction) {
        return directions.get(direction);
    }

    /**
     * The quantity a document of {@code modality} stores for the fusion graph (its blob field),
     * if any: {@code token_features} or {@code token_ids}.
     */
    public Optional<Quantity> stores(Modality modality) {
        return stored.get(modality);
    }

    /** Whether {@code direction} reads {@code quantity} from {@code side}. */
    public boolean reads(Direction direction, Side side, Quantity quantity) {
        return inputs(direction).stream().anyMatch(i -> i.side() == side && i.quantity() == quantity);
    }

    /**
     * {@code fusion_contract.fusion_section}: the declaration of a graph whose inputs, in graph
     * order, map a name to {@code <modality>.<quantity>}; each document stores what its modality's
     * inputs read.
     */
    public static FusionDeclaration fromModalityInputs(String graph, Map<String, String> inputs) {
        Map<Direction, List<Input>> directions = new EnumMap<>(Direction.class);
        Map<Modality, Optional<Quantity>> stored = new EnumMap<>(Modality.class);
        for (Modality m : Modality.values()) {
            stored.put(m, Optional.empty());
        }
        for (Direction direction : Direction.values()) {
            List<Input> list = new ArrayList<>();
            for (Map.Entry<String, String> e : inputs.entrySet()) {
                String[] parts = e.getValue().split("\\.", 2);
                Modality modality = parts[0].equals("text") ? Modality.TEXT : Modality.IMAGE;
                Quantity quantity = Quantity.byLabel(parts[1]).orElseThrow();
                list.add(new Input(e.getKey(), modality == direction.query() ? Side.QUERY : Side.CANDIDATE, quantity));
                if (quantity.stored()) {
                    stored.put(modality, Optional.of(quantity));
                }
            }
            directions.put(direction, List.copyOf(list));
        }
        return new FusionDeclaration(graph, directions, stored);
    }

    /**
     * The bundle's declaration from its manifest, checked against its graphs; {@link #OWN_INPUTS}
     * where the manifest has no {@code fusion} section.
     *
     * @throws IllegalArgumentException naming the manifest field and the offending value
     */
    public static FusionDeclaration fromManifest(JsonNode manifest) {
        JsonNode fusion = manifest.path("fusion");
        FusionDeclaration declaration = fusion.isMissingNode() || fusion.isNull()
            ? fromModalityInputs("fusion_itm", OWN_INPUTS)
            : parse(fusion);
        declaration.check(manifest.path("graphs"));
        return declaration;
    }

    private static FusionDeclaration parse(JsonNode fusion) {
        if (fusion.isObject() == false) {
            throw bad("fusion", fusion, "an object with graph, directions and documents");
        }
        String graph = text(fusion, "graph", "fusion.graph");
        Map<Direction, List<Input>> directions = new EnumMap<>(Direction.class);
        for (Direction direction : Direction.values()) {
            String field = "fusion.directions." + direction.label;
            JsonNode declared = fusion.path("directions").path(direction.label);
            if (declared.isObject() == false) {
                throw bad(field, declared, "an object with query, candidate and inputs");
            }
            String query = text(declared, "query", field + ".query");
            String candidate = text(declared, "candidate", field + ".candidate");
            if (query.equals(direction.query.label) == false || candidate.equals(direction.candidate.label) == false) {
                throw new IllegalArgumentException(String.format(Locale.ROOT,
                    "[manifest.json] field [%s] has query [%s] and candidate [%s]; expected [%s] and [%s]",
                    field, query, candidate, direction.query.label, direction.candidate.label));
            }
            JsonNode inputs = declared.path("inputs");
            if (inputs.isArray() == false || inputs.isEmpty()) {
                throw bad(field + ".inputs", inputs, "a non-empty array of {name, source}");
            }
            List<Input> list = new ArrayList<>();
            for (JsonNode entry : inputs) {
                String name = text(entry, "name", field + ".inputs.name");
                list.add(input(field, name, text(entry, "source", field + " input [" + name + "] source"), direction));
            }
            directions.put(direction, List.copyOf(list));
        }
        Map<Modality, Optional<Quantity>> stored = new EnumMap<>(Modality.class);
        for (Modality modality : Modality.values()) {
            stored.put(modality, documentStores(fusion.path("documents").path(modality.document), modality));
        }
        return new FusionDeclaration(graph, directions, stored);
    }

    /** {@code fusion_contract._parse} plus the modality check of {@code check_manifest}. */
    private static Input input(String field, String name, String source, Direction direction) {
        String where = String.format(Locale.ROOT, "[manifest.json] field [%s] input [%s] source [%s]", field, name, source);
        int dot = source.indexOf('.');
        String prefix = dot < 0 ? source : source.substring(0, dot);
        Side side = prefix.equals("query") ? Side.QUERY : prefix.equals("candidate") ? Side.CANDIDATE : null;
        if (side == null) {
            throw new IllegalArgumentException(where + ": its prefix must be one of [query, candidate]");
        }
        Quantity quantity = Quantity.byLabel(source.substring(dot + 1)).orElseThrow(() -> new IllegalArgumentException(
            where + ": valid quantities: " + Quantity.labels()));
        Modality modality = side == Side.QUERY ? direction.query : direction.candidate;
        if (quantity.modalities.contains(modality) == false) {
            throw new IllegalArgumentException(where + ": the " + side.label() + " is " + modality.label + ", which has no "
                + quantity.label);
        }
        return new Input(name, side, quantity);
    }

    private static Optional<Quantity> documentStores(JsonNode document, Modality modality) {
        String field = "fusion.documents." + modality.document + ".stores";
        JsonNode stores = document.path("stores");
        if (stores.isArray() == false) {
            throw bad(field, stores, "an array naming embedding and the stored quantities");
        }
        Optional<Quantity> stored = Optional.empty();
        for (JsonNode entry : stores) {
            String label = entry.asText();
            if (label.equals("embedding")) {
                continue;
            }
            Quantity quantity = Quantity.byLabel(label).filter(Quantity::stored).orElseThrow(() -> new IllegalArgumentException(
                "[manifest.json] field [" + field + "] names [" + label + "]; valid: [embedding, token_ids, token_features]"));
            if (quantity.modalities.contains(modality) == false) {
                throw new IllegalArgumentException("[manifest.json] field [" + field + "] names [" + label + "], which a "
                    + modality.label + " has not");
            }
            if (stored.isPresent() && stored.get() != quantity) {
                throw new IllegalArgumentException("[manifest.json] field [" + field + "] names both [" + stored.get().label
                    + "] and [" + label + "]; a document stores one blob for the fusion encoder");
            }
            stored = Optional.of(quantity);
        }
        return stored;
    }

    /**
     * {@code fusion_contract.check_manifest}'s checks against {@code graphs}, plus dtypes and a
     * candidate side that reads exactly its document's stored quantity.
     */
    private void check(JsonNode graphs) {
        JsonNode spec = graphs.path(graph);
        if (spec.isMissingNode()) {
            throw new IllegalArgumentException("[manifest.json] field [fusion.graph] is [" + graph + "], not one of the graphs "
                + fieldNames(graphs));
        }
        List<String> names = new ArrayList<>();
        List<String> dtypes = new ArrayList<>();
        spec.path("inputs").forEach(t -> {
            names.add(t.path("name").asText());
            dtypes.add(t.path("dtype").asText());
        });
        for (Direction direction : Direction.values()) {
            String field = "fusion.directions." + direction.label;
            List<Input> inputs = inputs(direction);
            List<String> declared = inputs.stream().map(Input::name).toList();
            if (declared.equals(names) == false) {
                throw new IllegalArgumentException("[manifest.json] field [" + field + ".inputs] " + declared
                    + " are not the inputs of [graphs." + graph + "] " + names);
            }
            for (int i = 0; i < inputs.size(); i++) {
                Input input = inputs.get(i);
                String where = "[manifest.json] field [" + field + "] input [" + input.name() + "] source [" + input.source() + "]";
                if (input.quantity().dtype.equals(dtypes.get(i)) == false) {
                    throw new IllegalArgumentException(where + ": a " + input.quantity().label + " is " + input.quantity().dtype
                        + ", but [graphs." + graph + "] declares [" + dtypes.get(i) + "]");
                }
                Modality modality = input.side() == Side.QUERY ? direction.query : direction.candidate;
                if (input.quantity() == Quantity.TOKEN_FEATURES && hasOutput(graphs.path(modality.encoderGraph), "token_features") == false) {
                    throw new IllegalArgumentException(where + ": [graphs." + modality.encoderGraph + "] has no token_features output");
                }
                if (input.side() == Side.CANDIDATE && input.quantity().stored()
                    && stores(direction.candidate).filter(q -> q == input.quantity()).isEmpty()) {
                    throw new IllegalArgumentException(where + ": [fusion.documents." + direction.candidate.document
                        + ".stores] lacks [" + input.quantity().label + "]");
                }
            }
            if (inputs.stream().noneMatch(i -> i.side() == Side.CANDIDATE && i.quantity().stored())) {
                throw new IllegalArgumentException("[manifest.json] field [" + field + "] reads no stored candidate quantity "
                    + "(token_ids or token_features): there is nothing to score a candidate from");
            }
        }
    }

    private static boolean hasOutput(JsonNode graphSpec, String name) {
        for (JsonNode t : graphSpec.path("outputs")) {
            if (t.path("name").asText().equals(name)) {
                return true;
            }
        }
        return false;
    }

    private static String text(JsonNode node, String key, String field) {
        JsonNode value = node.path(key);
        if (value.isTextual() == false) {
            throw bad(field, value, "a string");
        }
        return value.textValue();
    }

    private static IllegalArgumentException bad(String field, JsonNode value, String expected) {
        return new IllegalArgumentException("[manifest.json] field [" + field + "] is [" + (value.isMissingNode() ? "missing" : value)
            + "]; expected " + expected);
    }

    private static List<String> fieldNames(JsonNode node) {
        List<String> out = new ArrayList<>();
        node.fieldNames().forEachRemaining(out::add);
        return out;
    }
}
