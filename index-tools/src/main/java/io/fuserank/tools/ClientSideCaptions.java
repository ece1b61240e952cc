package io.fuserank.tools;

import ai.onnxruntime.OrtException;
import io.fuserank.encoder.DocumentStorage;
import io.fuserank.encoder.FeatureCodec;
import io.fuserank.encoder.TextEncoder;

import java.util.ArrayList;
import java.util.List;

/**
 * Encodes captions in this process ({@code --kind caption}, client-side): a batch goes through
 * {@link TextEncoder#encodeEach} in one call, so a caption the tokenizer rejects (empty after
 * cleaning, over 4,096 characters) fails alone with the tokenizer's reason and the rest of its
 * batch is encoded. The documents carry the ITC embedding in {@code text_vector} and the
 * token-feature blob in {@code text_features}, as the {@code fuserank} ingest processor writes
 * them for {@code caption-ingest-pipeline.json}. It owns the encoder and its tokenizer.
 */
final class ClientSideCaptions implements DocumentFactory<SourceEntry.Caption> {

    private final TextEncoder encoder;
    private final DocumentStorage storage;
    private final FeatureCodec codec;
    private final Tally tally;
    private final EncoderClock clock;

    ClientSideCaptions(TextEncoder encoder, DocumentStorage storage, FeatureCodec codec, Tally tally, EncoderClock clock) {
        this.encoder = encoder;
        this.storage = storage;
        this.codec = codec;
        this.tally = tally;
        this.clock = clock;
    }

    @Override
    public Class<SourceEntry.Caption> itemType() {
        return SourceEntry.Caption.class;
    }

    @Override
    public List<IndexDocument> documents(List<SourceEntry.Caption> batch) {
        long start = System.nanoTime();
        List<TextEncoder.Outcome> outcomes;
        try {
            outcomes = encoder.encodeEach(batch.stream().map(SourceEntry.Caption::text).toList());
        } catch (OrtException e) {
            batch.forEach(caption -> tally.failed(caption.id(), caption.path(),
                FailureCode.ENCODER.reason("the text encoder failed on a batch of [" + batch.size() + "]: " + e.getMessage())));
            return List.of();
        }
        List<IndexDocument> documents = new ArrayList<>(batch.size());
        for (int i = 0; i < batch.size(); i++) {
            SourceEntry.Caption caption = batch.get(i);
            TextEncoder.Outcome outcome = outcomes.get(i);
            if (outcome.failed()) {
                tally.failed(caption.id(), caption.path(), FailureCode.BAD_CAPTION.reason(
                    "caption [" + caption.index() + "] of [" + caption.path() + "]: " + outcome.error().getMessage()));
            } else {
                documents.add(IndexDocument.of(caption, IndexKind.CAPTION.encodedFields(outcome.encoding(), storage, codec)));
            }
        }
        clock.encoded(documents.size(), System.nanoTime() - start);
        return documents;
    }

    @Override
    public void close() throws OrtException {
        try (var tokenizer = encoder.tokenizer()) {
            encoder.close();
        }
    }
}
