package io.fuserank.tools;

import java.util.List;
import java.util.Map;

/**
 * {@code --kind caption --server-side}: documents carry the caption text in {@code caption} (with
 * {@code image_path} and {@code caption_index}) and the caption ingest pipeline's {@code fuserank}
 * processor encodes it on the node; a caption the node's tokenizer rejects comes back as a failed
 * bulk item with the node's reason. Nothing can fail here.
 */
final class ServerSideCaptions implements DocumentFactory<SourceEntry.Caption> {

    @Override
    public Class<SourceEntry.Caption> itemType() {
        return SourceEntry.Caption.class;
    }

    @Override
    public List<IndexDocument> documents(List<SourceEntry.Caption> batch) {
        return batch.stream().map(caption -> IndexDocument.of(caption, Map.of())).toList();
    }
}
