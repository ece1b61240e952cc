package io.fuserank.encoder;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.fuserank.encoder.FusionDeclaration.Direction;
import io.fuserank.encoder.FusionDeclaration.Input;
import io.fuserank.encoder.FusionDeclaration.Modality;
import io.fuserank.encoder.FusionDeclaration.Quantity;
import io.fuserank.encoder.FusionDeclaration.Side;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * The manifest's {@code fusion} section as Java reads it: the imported BLIP fixture's declaration,
 * the one derived for bundles without the section (equal to what {@code export.py} writes, saved
 * by {@code fusion_contract.fusion_section} as {@code fusion/export-own.json}), and each
 * malformed or inconsistent declaration refused naming the field, as {@code check_manifest} does.
 */
class FusionDeclarationTest {

    static final Path BLIP = Path.of("src", "test", "resources", "bundles", "blip-tiny").toAbsolutePath();
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void aBundleWithoutTheSectionGetsWhatExportWrites() throws IOException {
        ObjectNode shipped = manifest(ModelBundleTest.SHIPPED);
        assertEquals(false, shipped.has("fusion"));
        FusionDeclaration derived = FusionDeclaration.fromManifest(shipped);
        shipped.set("fusion", JSON.readTree(Path.of("src", "test", "resources", "fusion", "export-own.json").toFile()).get("fusion"));
        assertEquals(FusionDeclaration.fromManifest(shipped), derived);
        assertEquals(List.of(new Input("text_features", Side.CANDIDATE, Quantity.TOKEN_FEATURES),
                new Input("text_mask", Side.CANDIDATE, Quantity.ATTENTION_MASK),
                new Input("image_features", Side.QUERY, Quantity.TOKEN_FEATURES),
                new Input("image_mask", Side.QUERY, Quantity.TOKEN_MASK)),
            derived.inputs(Direction.IMAGE_TO_TEXT));
        assertEquals(Optional.of(Quantity.TOKEN_FEATURES), derived.stores(Modality.TEXT));
        assertEquals(Optional.of(Quantity.TOKEN_FEATURES), derived.stores(Modality.IMAGE));
    }

    @Test
    void theImportedBlipBundleReadsIdsAndStoresCaptionIds() throws IOException {
        FusionDeclaration blip = ModelBundle.load(BLIP).fusion();
        assertEquals("fusion_itm", blip.graph());
        assertEquals(List.of(new Input("input_ids", Side.QUERY, Quantity.TOKEN_IDS),
                new Input("attention_mask", Side.QUERY, Quantity.ATTENTION_MASK),
                new Input("image_features", Side.CANDIDATE, Quantity.TOKEN_FEATURES)),
            blip.inputs(Direction.TEXT_TO_IMAGE));
        assertEquals(List.of(new Input("input_ids", Side.CANDIDATE, Quantity.TOKEN_IDS),
                new Input("attention_mask", Side.CANDIDATE, Quantity.ATTENTION_MASK),
                new Input("image_features", Side.QUERY, Quantity.TOKEN_FEATURES)),
            blip.inputs(Direction.IMAGE_TO_TEXT));
        assertEquals(Optional.of(Quantity.TOKEN_IDS), blip.stores(Modality.TEXT));
        assertEquals(Optional.of(Quantity.TOKEN_FEATURES), blip.stores(Modality.IMAGE));
    }

    @Test
    void malformedDeclarationsAreRefusedNamingTheField() throws IOException {
        assertRefused(m -> inputs(m, "text_to_image").remove(0),
            "field [fusion.directions.text_to_image.inputs] [attention_mask, image_features] are not the inputs of "
                + "[graphs.fusion_itm] [input_ids, attention_mask, image_features]");
        assertRefused(m -> input(m, "text_to_image", 0).put("source", "text.token_ids"),
            "field [fusion.directions.text_to_image] input [input_ids] source [text.token_ids]: its prefix must be one of [query, candidate]");
        assertRefused(m -> input(m, "text_to_image", 0).put("source", "query.pixels"),
            "input [input_ids] source [query.pixels]: valid quantities: [token_ids, attention_mask, token_features, token_mask]");
        assertRefused(m -> input(m, "image_to_text", 0).put("source", "query.token_ids"),
            "field [fusion.directions.image_to_text] input [input_ids] source [query.token_ids]: the query is image, which has no token_ids");
        assertRefused(m -> input(m, "text_to_image", 2).put("source", "query.token_features"),
            "input [image_features] source [query.token_features]: [graphs.text_encoder] has no token_features output");
        assertRefused(m -> ((ArrayNode) m.at("/fusion/documents/caption/stores")).remove(1),
            "input [input_ids] source [candidate.token_ids]: [fusion.documents.caption.stores] lacks [token_ids]");
        assertRefused(m -> ((ArrayNode) m.at("/fusion/documents/caption/stores")).add("token_features"),
            "field [fusion.documents.caption.stores] names both [token_ids] and [token_features]; a document stores one blob");
        assertRefused(m -> ((ArrayNode) m.at("/fusion/documents/image/stores")).add("token_ids"),
            "field [fusion.documents.image.stores] names [token_ids], which a image has not");
        assertRefused(m -> ((ObjectNode) m.at("/fusion/directions/text_to_image")).put("query", "image"),
            "field [fusion.directions.text_to_image] has query [image] and candidate [image]; expected [text] and [image]");
        assertRefused(m -> ((ObjectNode) m.get("fusion")).put("graph", "itm"),
            "field [fusion.graph] is [itm], not one of the graphs [image_encoder, text_encoder, fusion_itm]");
        assertRefused(m -> ((ObjectNode) m.at("/graphs/fusion_itm/inputs/0")).put("dtype", "float32"),
            "input [input_ids] source [query.token_ids]: a token_ids is int64, but [graphs.fusion_itm] declares [float32]");
        assertRefused(m -> ((ObjectNode) m.get("fusion")).remove("directions"),
            "field [fusion.directions.text_to_image] is [missing]; expected an object");
    }

    @Test
    void aDirectionThatReadsNoStoredCandidateQuantityIsRefused() throws IOException {
        ObjectNode m = manifest(ModelBundleTest.SHIPPED);
        m.set("fusion", JSON.readTree(Path.of("src", "test", "resources", "fusion", "export-own.json").toFile()).get("fusion"));
        input(m, "image_to_text", 0).put("source", "query.token_features");
        input(m, "image_to_text", 1).put("source", "query.token_mask");
        var e = assertThrows(IllegalArgumentException.class, () -> FusionDeclaration.fromManifest(m));
        assertEquals("[manifest.json] field [fusion.directions.image_to_text] reads no stored candidate quantity (token_ids or "
            + "token_features): there is nothing to score a candidate from", e.getMessage());
    }

    @Test
    void theTextRuleComesFromTheManifest() throws IOException {
        assertEquals(TextRule.TOKENIZER_JSON, TextRule.fromManifest(manifest(BLIP).get("text")));
        assertEquals(TextRule.ALBEF_PRE_CAPTION, TextRule.fromManifest(manifest(ModelBundleTest.SHIPPED).get("text")));
        assertEquals(TextRule.ALBEF_PRE_CAPTION, TextRule.fromManifest(JSON.createObjectNode()));
        var e = assertThrows(IllegalArgumentException.class,
            () -> TextRule.fromManifest(JSON.createObjectNode().put("preprocessing", "clip_lower")));
        assertEquals("[manifest.json] field [text.preprocessing] is [clip_lower]; valid: [albef_pre_caption, tokenizer_json]", e.getMessage());
    }

    private static ObjectNode manifest(Path bundle) throws IOException {
        return (ObjectNode) JSON.readTree(bundle.resolve("manifest.json").toFile());
    }

    private static ArrayNode inputs(ObjectNode manifest, String direction) {
        return (ArrayNode) manifest.at("/fusion/directions/" + direction + "/inputs");
    }

    private static ObjectNode input(ObjectNode manifest, String direction, int index) {
        return (ObjectNode) inputs(manifest, direction).get(index);
    }

    private static void assertRefused(Consumer<ObjectNode> edit, String expected) throws IOException {
        ObjectNode m = manifest(BLIP);
        edit.accept(m);
        var e = assertThrows(IllegalArgumentException.class, () -> FusionDeclaration.fromManifest(m));
        if (e.getMessage().contains(expected) == false) {
            throw new AssertionError("expected a message containing [" + expected + "], got [" + e.getMessage() + "]");
        }
    }
}
