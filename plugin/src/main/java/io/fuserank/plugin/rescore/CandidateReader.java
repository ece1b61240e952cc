package io.fuserank.plugin.rescore;

import org.apache.lucene.index.FloatVectorValues;
import org.apache.lucene.index.IndexReader;
import org.apache.lucene.index.KnnVectorValues;
import org.apache.lucene.index.LeafReaderContext;
import org.apache.lucene.index.ReaderUtil;
import org.apache.lucene.util.BytesRef;
import org.elasticsearch.index.fielddata.IndexFieldData;
import org.elasticsearch.index.fielddata.SortedBinaryDocValues;

import java.io.IOException;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.stream.IntStream;

/**
 * Reads the rescore window's per-document inputs from one shard: the token-features blob from the
 * {@code binary} doc values of the features field and, where the index maps it, the stored ITC
 * vector of the {@code dense_vector} field (the raw float vector, which quantized index options keep
 * next to the quantized copy).
 *
 * <p>Documents are visited in doc-id order, so each segment's doc values and vector iterator are
 * opened once and only move forward; results come back in the caller's order. A document without a
 * value gets {@code null}, never an error: it keeps its first-stage score. So does a document whose
 * features field holds several values (the rescorer needs exactly one blob): it is marked
 * {@link Candidate#unusable()} instead of failing the search.
 */
final class CandidateReader {

    /**
     * A document's inputs; either may be null. {@code unusable} says why the features field's value
     * cannot be used (then {@code blob} is null), null where it can or where there is none.
     */
    record Candidate(byte[] blob, float[] vector, String unusable) {
    }

    private final IndexFieldData<?> features;
    private final String featuresField;
    private final String vectorField;

    /** {@code vectorField} is null when the index does not map it. */
    CandidateReader(IndexFieldData<?> features, String featuresField, String vectorField) {
        this.features = features;
        this.featuresField = featuresField;
        this.vectorField = vectorField;
    }

    /** The inputs of top-level doc ids {@code docs}, in the same order; {@code checkCancellation} runs per segment. */
    Candidate[] read(IndexReader reader, int[] docs, Runnable checkCancellation) throws IOException {
        Candidate[] out = new Candidate[docs.length];
        Integer[] order = IntStream.range(0, docs.length).boxed().toArray(Integer[]::new);
        Arrays.sort(order, Comparator.comparingInt(i -> docs[i]));
        List<LeafReaderContext> leaves = reader.leaves();
        LeafReaderContext leaf = null;
        SortedBinaryDocValues blobs = null;
        FloatVectorValues vectors = null;
        KnnVectorValues.DocIndexIterator vectorDocs = null;
        for (int i : order) {
            int doc = docs[i];
            if (leaf == null || doc >= leaf.docBase + leaf.reader().maxDoc()) {
                checkCancellation.run();
                leaf = leaves.get(ReaderUtil.subIndex(doc, leaves));
                blobs = features.load(leaf).getBytesValues();
                vectors = vectorField == null ? null : leaf.reader().getFloatVectorValues(vectorField);
                vectorDocs = vectors == null ? null : vectors.iterator();
            }
            int local = doc - leaf.docBase;
            float[] vector = vector(vectors, vectorDocs, local);
            boolean hasBlob = blobs.advanceExact(local);
            if (hasBlob && blobs.docValueCount() != 1) {
                out[i] = new Candidate(null, vector, String.format(Locale.ROOT,
                    "[%s] holds [%d] values; the rescorer needs one token-features blob per document", featuresField,
                    blobs.docValueCount()));
            } else {
                out[i] = new Candidate(hasBlob ? blob(blobs.nextValue()) : null, vector, null);
            }
        }
        return out;
    }

    private static byte[] blob(BytesRef value) {
        return Arrays.copyOfRange(value.bytes, value.offset, value.offset + value.length);
    }

    private static float[] vector(FloatVectorValues vectors, KnnVectorValues.DocIndexIterator docs, int local) throws IOException {
        if (docs == null) {
            return null;
        }
        if (docs.docID() < local) {
            docs.advance(local);
        }
        return docs.docID() == local ? vectors.vectorValue(docs.index()).clone() : null;
    }
}
