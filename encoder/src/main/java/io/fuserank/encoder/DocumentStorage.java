package io.fuserank.encoder;

import io.fuserank.encoder.FusionDeclaration.Modality;
import io.fuserank.encoder.FusionDeclaration.Quantity;

import java.util.EnumMap;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * What a document stores for the fusion graph, in its blob field, made from the document's
 * {@link Encoding}: the quantity the model's {@code fusion.documents} names for the document's kind,
 * token features as a {@link FeatureCodec} blob or token ids as a {@link TokenIdsCodec} blob (a
 * BLIP caption stores its ids: BLIP's ITM runs the whole text encoder from them). The one place
 * that decides it, for the plugin's ingest processor and the CLI's indexer alike.
 *
 * @param stored    what each document kind stores ({@link FusionDeclaration#stores})
 * @param modelCodec the codec the manifest asks token features to be stored with
 * @param idLimits  the model's token-id range and length (null for a bundle without a vocabulary
 *                  size, which can then store no ids)
 */
public record DocumentStorage(Map<Modality, Optional<Quantity>> stored, FeatureCodec modelCodec, TokenIdsCodec.Limits idLimits) {

    public DocumentStorage {
        stored = Map.copyOf(stored);
        Objects.requireNonNull(modelCodec, "modelCodec");
        for (Modality modality : Modality.values()) {
            Optional<Quantity> quantity = Objects.requireNonNull(stored.get(modality), modality.document());
            if (quantity.isPresent() && quantity.get() == Quantity.TOKEN_IDS && idLimits == null) {
                throw new IllegalArgumentException(modality.document() + " documents store token ids but the model has no vocabulary size");
            }
        }
    }

    public static DocumentStorage of(ModelBundle bundle) {
        Map<Modality, Optional<Quantity>> stored = new EnumMap<>(Modality.class);
        for (Modality modality : Modality.values()) {
            stored.put(modality, bundle.fusion().stores(modality));
        }
        return new DocumentStorage(stored, FeatureCodec.fromLabel(bundle.codec()), bundle.vocabSize() > 0 ? bundle.tokenIdLimits() : null);
    }

    public Optional<Quantity> stores(Modality modality) {
        return stored.get(modality);
    }

    /**
     * The blob a document of {@code modality} stores, or null when the model's documents of that
     * kind store nothing (no search direction reads them).
     *
     * @param codec the token-feature codec, or null for the manifest's; ignored for stored ids
     * @throws IllegalArgumentException when the encoding lacks what the document stores (an encoder
     *                                  graph that does not fit the manifest)
     */
    public byte[] blob(Modality modality, Encoding encoding, FeatureCodec codec) {
        Optional<Quantity> quantity = stored.get(modality);
        if (quantity.isEmpty()) {
            return null;
        }
        if (quantity.get() == Quantity.TOKEN_IDS) {
            if (encoding.tokenIds() == null) {
                throw new IllegalArgumentException("the model's " + modality.document() + " documents store token ids, but its encoding has none");
            }
            return TokenIdsCodec.encode(encoding.tokenIds(), idLimits);
        }
        if (encoding.tokenFeatures() == null) {
            throw new IllegalArgumentException("the model's " + modality.document() + " documents store token features, but its encoder gives none");
        }
        return (codec != null ? codec : modelCodec).encode(encoding.tokenFeatures());
    }
}
