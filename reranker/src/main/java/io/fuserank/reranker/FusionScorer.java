package io.fuserank.reranker;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import io.fuserank.encoder.Encoding;
import io.fuserank.encoder.FeatureCodec;
import io.fuserank.encoder.FeatureLayout;
import io.fuserank.encoder.FusionDeclaration;
import io.fuserank.encoder.FusionDeclaration.Direction;
import io.fuserank.encoder.FusionDeclaration.Input;
import io.fuserank.encoder.FusionDeclaration.Modality;
import io.fuserank.encoder.FusionDeclaration.Quantity;
import io.fuserank.encoder.FusionDeclaration.Side;
import io.fuserank.encoder.InferenceOptions;
import io.fuserank.encoder.ModelBundle;
import io.fuserank.encoder.TokenFeatures;
import io.fuserank.encoder.TokenIdsCodec;

import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Batched ITM scoring through the bundle's fusion graph: one query against k candidates' stored
 * blobs, all pairs in one ONNX call (ALBEF's rerank of the ITC top-k with the fusion encoder's ITM
 * head, arXiv 2107.07651; scored per pair in a loop there, batched here because k single-pair calls
 * waste most of the time on per-call overhead).
 *
 * <p>Each graph input is built from the bundle's {@link FusionDeclaration} for the direction
 * scored: the query's quantities (token ids, token features and their masks) once, repeated over
 * the batch, and each candidate's from the blob its document stores ({@link FeatureCodec} token
 * features, or {@link TokenIdsCodec} ids for a model whose ITM runs from a caption's ids, as BLIP's
 * does), zero- or pad-id-padded to the longest candidate and masked. No family is special-cased:
 * our own graphs, whose inputs are the text and image token features and masks, go through the
 * same path.
 *
 * <p>Stored blobs are untrusted. Every candidate's header is checked against what the model's
 * documents of the candidates' modality store ({@link ModelBundle#imageFeatures()}: exactly the
 * manifest's image token count; {@link ModelBundle#textFeatures()}: 1 to its maximum text tokens;
 * {@link ModelBundle#tokenIdLimits()}: 1 to its maximum text tokens of ids within the vocabulary)
 * before any buffer is allocated, so buffers are sized from checked token counts only: at most
 * {@code maxBatch x layers x manifest tokens x width} values per ONNX call, whatever a header
 * claims; above {@code maxBatch} candidates the call is split. A candidate that fails the check or
 * decoding, or whose ITM logit is not finite, is answered with a {@link Rejection} (a blob that fits
 * what the query's own modality stores is {@link Rejection.Kind#WRONG_MODALITY}); the others are
 * scored as if it were not there.
 *
 * <p>Thread-safe: one shared session, no mutable state.
 */
public final class FusionScorer implements AutoCloseable {

    /** The plugin's default {@code maxBatch} ({@code fuserank.rescore.max_batch}), which the CLI's client-side rerank uses too. */
    public static final int DEFAULT_MAX_BATCH = 128;

    private final OrtSession session;
    private final String model;
    private final FusionDeclaration declaration;
    private final Map<Modality, Stored> stored = new EnumMap<>(Modality.class);
    private final FeatureLayout images;
    private final FeatureLayout texts;
    private final TokenIdsCodec.Limits idLimits;
    private final long padId;
    private final int maxBatch;

    public FusionScorer(ModelBundle bundle, InferenceOptions options, int maxBatch) throws OrtException {
        if (maxBatch < 1) {
            throw new IllegalArgumentException("maxBatch must be positive, got [" + maxBatch + "]");
        }
        this.model = bundle.name();
        this.declaration = bundle.fusion();
        this.images = bundle.imageFeatures();
        this.texts = bundle.textFeatures();
        this.idLimits = bundle.vocabSize() > 0 ? bundle.tokenIdLimits() : null;
        this.padId = bundle.padId();
        for (Modality modality : Modality.values()) {
            declaration.stores(modality).ifPresent(q -> stored.put(modality, new Stored(modality, q)));
        }
        this.maxBatch = maxBatch;
        this.session = options.open(bundle, declaration.graph());
    }

    public int maxBatch() {
        return maxBatch;
    }

    /** ITM scores (the match logit) of one text query against image candidates' blobs, or why each was not scored. */
    public CandidateScores scoreImageCandidates(Encoding text, List<byte[]> imageBlobs) throws OrtException {
        return score(Direction.TEXT_TO_IMAGE, text.tokenFeatures(), text.tokenIds(), imageBlobs);
    }

    /** ITM scores of one image query against caption candidates' blobs, or why each was not scored. */
    public CandidateScores scoreTextCandidates(Encoding image, List<byte[]> textBlobs) throws OrtException {
        return score(Direction.IMAGE_TO_TEXT, image.tokenFeatures(), image.tokenIds(), textBlobs);
    }

    /** {@link #scoreImageCandidates(Encoding, List)} for a model whose ITM reads the text query's features, not its ids. */
    public CandidateScores scoreImageCandidates(TokenFeatures text, List<byte[]> imageBlobs) throws OrtException {
        return score(Direction.TEXT_TO_IMAGE, text, null, imageBlobs);
    }

    /** {@link #scoreTextCandidates(Encoding, List)} with the image query's token features. */
    public CandidateScores scoreTextCandidates(TokenFeatures image, List<byte[]> textBlobs) throws OrtException {
        return score(Direction.IMAGE_TO_TEXT, image, null, textBlobs);
    }

    /** {@link #scoreImageCandidates(Encoding, List)}, with the first candidate that cannot be scored thrown as a {@link CandidateException}. */
    public float[] scoreImages(Encoding text, List<byte[]> imageBlobs) throws OrtException {
        return scoreImageCandidates(text, imageBlobs).orThrow();
    }

    /** {@link #scoreTextCandidates(Encoding, List)}, with the first candidate that cannot be scored thrown as a {@link CandidateException}. */
    public float[] scoreTexts(Encoding image, List<byte[]> textBlobs) throws OrtException {
        return scoreTextCandidates(image, textBlobs).orThrow();
    }

    /** {@link #scoreImageCandidates(TokenFeatures, List)}, with the first candidate that cannot be scored thrown. */
    public float[] scoreImages(TokenFeatures text, List<byte[]> imageBlobs) throws OrtException {
        return scoreImageCandidates(text, imageBlobs).orThrow();
    }

    /** {@link #scoreTextCandidates(TokenFeatures, List)}, with the first candidate that cannot be scored thrown. */
    public float[] scoreTexts(TokenFeatures image, List<byte[]> textBlobs) throws OrtException {
        return scoreTextCandidates(image, textBlobs).orThrow();
    }

    /** {@code a text query} or {@code an image query}. */
    private static String queryName(Modality modality) {
        return modality == Modality.TEXT ? "a text query" : "an image query";
    }

    private FeatureLayout layout(Modality modality) {
        return modality == Modality.TEXT ? texts : images;
    }

    /** What a document of one modality stores for the fusion graph, and how a blob of it is checked. */
    private final class Stored {
        final Modality modality;
        final Quantity quantity;

        Stored(Modality modality, Quantity quantity) {
            this.modality = modality;
            this.quantity = quantity;
        }

        /** The blob's token count per layer; an IllegalArgumentException where it does not fit. */
        int tokens(byte[] blob) {
            if (quantity == Quantity.TOKEN_IDS) {
                return TokenIdsCodec.header(blob, idLimits);
            }
            FeatureCodec.Header h = FeatureCodec.header(blob);
            if (layout(modality).fits(h) == false) {
                throw new IllegalArgumentException(String.format(Locale.ROOT, "token-feature blob %s fits no layout of model [%s]: %s",
                    h.shape(), model, describeAll()));
            }
            return h.tokens();
        }

        /** {@code image features are [..]}, {@code caption ids [..]}. */
        String describe() {
            return modality.document() + (quantity == Quantity.TOKEN_IDS ? " ids " + idLimits : " features " + layout(modality));
        }

        /** {@code image token features}, {@code caption token ids}. */
        String noun() {
            return modality.document() + (quantity == Quantity.TOKEN_IDS ? " token ids" : " token features");
        }
    }

    /** {@code image features are [..], caption features [..]} (or {@code caption ids [..]}). */
    private String describeAll() {
        List<String> parts = new ArrayList<>();
        for (Modality m : List.of(Modality.IMAGE, Modality.TEXT)) {
            if (stored.containsKey(m)) {
                parts.add(stored.get(m).describe());
            }
        }
        return String.join(", ", parts).replaceFirst("(features|ids) ", "$1 are ");
    }

    private CandidateScores score(Direction direction, TokenFeatures queryFeatures, long[] queryIds, List<byte[]> blobs)
        throws OrtException {
        int queryTokens = checkQuery(direction, queryFeatures, queryIds);
        int n = blobs.size();
        float[] scores = new float[n];
        Rejection[] rejections = new Rejection[n];
        int[] tokens = new int[n];
        List<Integer> accepted = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            try {
                tokens[i] = stored.get(direction.candidate()).tokens(blobs.get(i));
                accepted.add(i);
            } catch (IllegalArgumentException e) {
                rejections[i] = reject(blobs.get(i), direction, e);
            }
        }
        Query query = new Query(queryFeatures, queryIds, queryTokens);
        for (int from = 0; from < accepted.size(); from += maxBatch) {
            scoreChunk(direction, query, blobs, accepted.subList(from, Math.min(accepted.size(), from + maxBatch)), tokens, scores, rejections);
        }
        return new CandidateScores(scores, rejections);
    }

    /** Why a blob that does not fit the candidates' stored form was rejected: the query's own modality, or corrupt. */
    private Rejection reject(byte[] blob, Direction direction, IllegalArgumentException problem) {
        Stored own = stored.get(direction.query());
        if (own != null) {
            try {
                int tokens = own.tokens(blob);
                return new Rejection(Rejection.Kind.WRONG_MODALITY, String.format(Locale.ROOT, "%s (%d tokens); %s needs %s of model [%s]",
                    own.noun(), tokens, queryName(direction.query()), stored.get(direction.candidate()).describe(), model));
            } catch (IllegalArgumentException e) {
                // not the query's modality either
            }
        }
        return Rejection.corrupt(problem.getMessage());
    }

    /** One query's quantities: its token features and ids (either may be null), and its token count per layer. */
    private record Query(TokenFeatures features, long[] ids, int tokens) {
    }

    /**
     * Scores the {@code chunk} of checked candidates (at most {@code maxBatch}) in one call: each is
     * decoded into its row of the batch, a row that fails to decode is cleared and reused by the next.
     */
    private void scoreChunk(Direction direction, Query query, List<byte[]> blobs, List<Integer> chunk, int[] tokens, float[] scores,
                            Rejection[] rejections) throws OrtException {
        Stored form = stored.get(direction.candidate());
        boolean ids = form.quantity == Quantity.TOKEN_IDS;
        FeatureLayout layout = layout(direction.candidate());
        int maxTokens = chunk.stream().mapToInt(i -> tokens[i]).max().orElseThrow();
        int stride = ids ? maxTokens : layout.layers() * maxTokens * layout.width();
        float[] features = ids ? null : new float[chunk.size() * stride];
        long[] idRows = ids ? new long[chunk.size() * stride] : null;
        if (ids) {
            Arrays.fill(idRows, padId);
        }
        long[] candidateMask = new long[chunk.size() * maxTokens];
        int[] rows = new int[chunk.size()];
        int n = 0;
        for (int i : chunk) {
            try {
                if (ids) {
                    TokenIdsCodec.decodeInto(blobs.get(i), idLimits, idRows, n * stride);
                } else {
                    FeatureCodec.decodeInto(blobs.get(i), layout, features, n * stride, maxTokens);
                }
            } catch (IllegalArgumentException e) {
                if (ids) {
                    Arrays.fill(idRows, n * stride, (n + 1) * stride, padId);
                } else {
                    Arrays.fill(features, n * stride, (n + 1) * stride, 0f);
                }
                rejections[i] = Rejection.corrupt(e.getMessage());
                continue;
            }
            Arrays.fill(candidateMask, n * maxTokens, n * maxTokens + tokens[i], 1L);
            rows[n++] = i;
        }
        if (n == 0) {
            return;
        }
        Batch candidates = new Batch(features, idRows, candidateMask, n, maxTokens, layout);
        float[] logits = run(direction, query, candidates);
        for (int k = 0; k < n; k++) {
            if (Float.isFinite(logits[k])) {
                scores[rows[k]] = logits[k];
            } else {
                rejections[rows[k]] = Rejection.corrupt("the fusion encoder's ITM logit for these token features is [" + logits[k]
                    + "], not a finite number");
            }
        }
    }

    /** The decoded candidates of one call: {@code n} rows of {@code tokens} tokens per layer, features or ids, and their mask. */
    private record Batch(float[] features, long[] ids, long[] mask, int n, int tokens, FeatureLayout layout) {
    }

    /** The match logits of the batch's candidates against the query, each graph input built as the declaration says. */
    private float[] run(Direction direction, Query query, Batch batch) throws OrtException {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        int n = batch.n();
        Map<String, OnnxTensor> inputs = new LinkedHashMap<>();
        try {
            for (Input input : declaration.inputs(direction)) {
                inputs.put(input.name(), input.side() == Side.QUERY ? queryTensor(env, input.quantity(), query, direction.query(), n)
                    : candidateTensor(env, input.quantity(), batch));
            }
            try (OrtSession.Result result = session.run(inputs)) {
                FloatBuffer logits = ((OnnxTensor) result.get("itm_logits").orElseThrow()).getFloatBuffer();
                float[] scores = new float[n];
                for (int i = 0; i < n; i++) {
                    scores[i] = logits.get(2 * i + 1);
                }
                return scores;
            }
        } finally {
            for (OnnxTensor tensor : inputs.values()) {
                tensor.close();
            }
        }
    }

    /** A query quantity repeated over {@code n} rows. */
    private OnnxTensor queryTensor(OrtEnvironment env, Quantity quantity, Query query, Modality modality, int n) throws OrtException {
        return switch (quantity) {
            case TOKEN_IDS -> OnnxTensor.createTensor(env, LongBuffer.wrap(repeat(query.ids(), n)), new long[] {n, query.ids().length});
            case ATTENTION_MASK, TOKEN_MASK -> {
                long[] ones = new long[n * query.tokens()];
                Arrays.fill(ones, 1L);
                yield OnnxTensor.createTensor(env, LongBuffer.wrap(ones), new long[] {n, query.tokens()});
            }
            case TOKEN_FEATURES -> {
                TokenFeatures f = query.features();
                yield OnnxTensor.createTensor(env, FloatBuffer.wrap(repeat(f.values(), n)),
                    new long[] {n, (long) f.layers() * f.tokens(), f.width()});
            }
        };
    }

    /** A candidate quantity of the batch. */
    private static OnnxTensor candidateTensor(OrtEnvironment env, Quantity quantity, Batch batch) throws OrtException {
        int n = batch.n();
        return switch (quantity) {
            case TOKEN_IDS -> OnnxTensor.createTensor(env, LongBuffer.wrap(batch.ids(), 0, n * batch.tokens()), new long[] {n, batch.tokens()});
            case ATTENTION_MASK, TOKEN_MASK -> OnnxTensor.createTensor(env, LongBuffer.wrap(batch.mask(), 0, n * batch.tokens()),
                new long[] {n, batch.tokens()});
            case TOKEN_FEATURES -> {
                FeatureLayout layout = batch.layout();
                int stride = layout.layers() * batch.tokens() * layout.width();
                yield OnnxTensor.createTensor(env, FloatBuffer.wrap(batch.features(), 0, n * stride),
                    new long[] {n, (long) layout.layers() * batch.tokens(), layout.width()});
            }
        };
    }

    /**
     * Checks the query has what the direction reads from it, in the model's layout (it comes from the
     * model's own encoders), and returns its token count per layer.
     */
    private int checkQuery(Direction direction, TokenFeatures features, long[] ids) {
        Modality modality = direction.query();
        String who = queryName(modality);
        if (declaration.reads(direction, Side.QUERY, Quantity.TOKEN_FEATURES)) {
            if (features == null) {
                throw new IllegalArgumentException(who + " has no token features; model [" + model + "] reads [query.token_features]");
            }
            FeatureLayout expected = layout(modality);
            if (expected.fits(features.layers(), features.tokens(), features.width()) == false) {
                throw new IllegalArgumentException(String.format(Locale.ROOT, "%s has features [%d x %d x %d], model [%s] expects %s",
                    who, features.layers(), features.tokens(), features.width(), model, expected));
            }
        }
        if (declaration.reads(direction, Side.QUERY, Quantity.TOKEN_IDS)) {
            if (ids == null) {
                throw new IllegalArgumentException(who + " has no token ids; model [" + model + "] reads [query.token_ids]: "
                    + "pass the query's Encoding");
            }
            TokenIdsCodec.check(ids, idLimits);
        }
        if (ids != null && features != null && ids.length != features.tokens()) {
            throw new IllegalArgumentException(String.format(Locale.ROOT, "%s has [%d] token ids but features of [%d] tokens",
                who, ids.length, features.tokens()));
        }
        return ids != null ? ids.length : features != null ? features.tokens() : 0;
    }

    private static float[] repeat(float[] values, int times) {
        float[] out = new float[values.length * times];
        for (int i = 0; i < times; i++) {
            System.arraycopy(values, 0, out, i * values.length, values.length);
        }
        return out;
    }

    private static long[] repeat(long[] values, int times) {
        long[] out = new long[values.length * times];
        for (int i = 0; i < times; i++) {
            System.arraycopy(values, 0, out, i * values.length, values.length);
        }
        return out;
    }

    @Override
    public void close() throws OrtException {
        session.close();
    }
}
