package io.fuserank.tools;

import ai.onnxruntime.OrtException;
import io.fuserank.encoder.DocumentStorage;
import io.fuserank.encoder.Encoding;
import io.fuserank.encoder.FeatureCodec;
import io.fuserank.encoder.ImageEncoder;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Encodes images in this process: each file is read and preprocessed on its own (a corrupt file
 * fails alone, with its {@code ImageDecodeException} reason) into one batch buffer, and the good
 * ones go through the image encoder in a single {@code encodePixels} call. The documents carry the
 * ITC embedding in {@code image_vector} and the token-feature blob in {@code image_features}, as
 * the {@code fuserank} ingest processor would write them, and no image bytes. It owns the encoder.
 */
final class ClientSideDocuments implements DocumentFactory<SourceEntry.Image> {

    private final ImageEncoder encoder;
    private final DocumentStorage storage;
    private final FeatureCodec codec;
    private final long maxImageBytes;
    private final Tally tally;
    private final EncoderClock clock;

    ClientSideDocuments(ImageEncoder encoder, DocumentStorage storage, FeatureCodec codec, long maxImageBytes, Tally tally, EncoderClock clock) {
        this.encoder = encoder;
        this.storage = storage;
        this.codec = codec;
        this.maxImageBytes = maxImageBytes;
        this.tally = tally;
        this.clock = clock;
    }

    @Override
    public Class<SourceEntry.Image> itemType() {
        return SourceEntry.Image.class;
    }

    @Override
    public List<IndexDocument> documents(List<SourceEntry.Image> batch) {
        long start = System.nanoTime();
        int per = encoder.pixelsPerImage();
        float[] pixels = new float[batch.size() * per];
        List<SourceEntry.Image> good = new ArrayList<>(batch.size());
        for (SourceEntry.Image image : batch) {
            try {
                encoder.preprocessor().preprocessInto(ImageFiles.read(image.file(), maxImageBytes), pixels, good.size() * per);
                good.add(image);
            } catch (IOException e) {
                tally.failed(image.id(), image.path(), ImageFiles.reason(image.file(), e));
            }
        }
        long prepared = System.nanoTime();
        clock.prepared(prepared - start);
        if (good.isEmpty()) {
            return List.of();
        }
        List<Encoding> encodings;
        try {
            encodings = encoder.encodePixels(good.size() == batch.size() ? pixels : Arrays.copyOf(pixels, good.size() * per), good.size());
        } catch (OrtException e) {
            good.forEach(image -> tally.failed(image.id(), image.path(),
                FailureCode.ENCODER.reason("the image encoder failed on a batch of [" + good.size() + "]: " + e.getMessage())));
            return List.of();
        }
        clock.encoded(good.size(), System.nanoTime() - prepared);
        List<IndexDocument> documents = new ArrayList<>(good.size());
        for (int i = 0; i < good.size(); i++) {
            documents.add(IndexDocument.of(good.get(i), IndexKind.IMAGE.encodedFields(encodings.get(i), storage, codec)));
        }
        return documents;
    }

    @Override
    public void close() throws OrtException {
        encoder.close();
    }
}
