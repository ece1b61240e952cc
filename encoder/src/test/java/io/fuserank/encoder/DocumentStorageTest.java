package io.fuserank.encoder;

import io.fuserank.encoder.FusionDeclaration.Modality;
import io.fuserank.encoder.FusionDeclaration.Quantity;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** What a document stores is what the model's {@code fusion.documents} names: features for ours, ids for a BLIP caption. */
class DocumentStorageTest {

    private static BundleEncoders blip;
    private static BundleEncoders own;

    @BeforeAll
    static void open() throws Exception {
        blip = BundleEncoders.open(FusionDeclarationTest.BLIP);
        own = BundleEncoders.open(ModelBundleTest.SHIPPED);
    }

    @AfterAll
    static void close() throws Exception {
        blip.close();
        own.close();
    }

    @Test
    void aBlipCaptionStoresItsTokenIdsAndAnImageItsFeatures() throws Exception {
        DocumentStorage storage = DocumentStorage.of(blip.bundle());
        assertEquals(Optional.of(Quantity.TOKEN_IDS), storage.stores(Modality.TEXT));
        assertEquals(Optional.of(Quantity.TOKEN_FEATURES), storage.stores(Modality.IMAGE));

        Encoding caption = blip.texts().encode(List.of("a dog on a red sofa")).get(0);
        byte[] ids = storage.blob(Modality.TEXT, caption, FeatureCodec.FP32);
        assertTrue(TokenIdsCodec.hasMagic(ids));
        assertArrayEquals(caption.tokenIds(), TokenIdsCodec.decode(ids, blip.bundle().tokenIdLimits()));

        Encoding image = imageOf(blip);
        assertArrayEquals(FeatureCodec.fromLabel(blip.bundle().codec()).encode(image.tokenFeatures()), storage.blob(Modality.IMAGE, image, null));
    }

    @Test
    void ourDocumentsStoreTokenFeaturesInTheRequestedOrTheManifestsCodec() throws Exception {
        DocumentStorage storage = DocumentStorage.of(own.bundle());
        Encoding caption = own.texts().encode(List.of("a red circle")).get(0);
        assertArrayEquals(FeatureCodec.FP16.encode(caption.tokenFeatures()), storage.blob(Modality.TEXT, caption, FeatureCodec.FP16));
        Encoding image = imageOf(own);
        assertArrayEquals(FeatureCodec.fromLabel(own.bundle().codec()).encode(image.tokenFeatures()), storage.blob(Modality.IMAGE, image, null));
    }

    @Test
    void aDocumentKindThatNoDirectionReadsStoresNothing() {
        DocumentStorage imagesOnly = new DocumentStorage(Map.of(Modality.TEXT, Optional.empty(), Modality.IMAGE, Optional.of(Quantity.TOKEN_FEATURES)),
            FeatureCodec.INT8, null);
        assertNull(imagesOnly.blob(Modality.TEXT, new Encoding(new float[] {1f}, null, new long[] {2, 3}), null));
    }

    @Test
    void anEncodingWithoutWhatTheDocumentStoresIsRefusedNamingIt() {
        DocumentStorage storage = DocumentStorage.of(blip.bundle());
        Encoding noIds = new Encoding(new float[] {1f}, new TokenFeatures(1, 1, 1, new float[] {0f}));
        assertEquals("the model's caption documents store token ids, but its encoding has none",
            assertThrows(IllegalArgumentException.class, () -> storage.blob(Modality.TEXT, noIds, null)).getMessage());
        Encoding noFeatures = new Encoding(new float[] {1f}, null);
        assertEquals("the model's image documents store token features, but its encoder gives none",
            assertThrows(IllegalArgumentException.class, () -> storage.blob(Modality.IMAGE, noFeatures, null)).getMessage());
        assertThrows(IllegalArgumentException.class, () -> new DocumentStorage(
            Map.of(Modality.TEXT, Optional.of(Quantity.TOKEN_IDS), Modality.IMAGE, Optional.empty()), FeatureCodec.INT8, null));
    }

    private static Encoding imageOf(BundleEncoders encoders) throws Exception {
        return encoders.images().encodePixels(new float[encoders.images().pixelsPerImage()], 1).get(0);
    }
}
