package io.fuserank.tools;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * {@code --server-side}: documents carry the image file itself in {@code image} (base64) and the
 * ingest pipeline's {@code fuserank} processor encodes them on the node; an image the node cannot
 * decode comes back as a failed bulk item. Only unreadable or oversized files fail here.
 */
final class ServerSideDocuments implements DocumentFactory<SourceEntry.Image> {

    private final long maxImageBytes;
    private final Tally tally;

    ServerSideDocuments(long maxImageBytes, Tally tally) {
        this.maxImageBytes = maxImageBytes;
        this.tally = tally;
    }

    @Override
    public Class<SourceEntry.Image> itemType() {
        return SourceEntry.Image.class;
    }

    @Override
    public List<IndexDocument> documents(List<SourceEntry.Image> batch) {
        List<IndexDocument> documents = new ArrayList<>(batch.size());
        for (SourceEntry.Image image : batch) {
            try {
                documents.add(IndexDocument.of(image, Map.of(IndexKind.IMAGE.sourceField(), ImageFiles.read(image.file(), maxImageBytes))));
            } catch (IOException e) {
                tally.failed(image.id(), image.path(), ImageFiles.reason(image.file(), e));
            }
        }
        return documents;
    }
}
