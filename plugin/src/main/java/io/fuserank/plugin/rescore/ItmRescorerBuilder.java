package io.fuserank.plugin.rescore;

import io.fuserank.plugin.FuseRankSettings;
import io.fuserank.plugin.action.EncodeRequest;
import io.fuserank.plugin.query.QueryEncoder;
import io.fuserank.reranker.ScoreFormula;
import org.apache.lucene.util.SetOnce;
import org.elasticsearch.TransportVersion;
import org.elasticsearch.action.ActionRequestValidationException;
import org.elasticsearch.common.io.stream.StreamInput;
import org.elasticsearch.common.io.stream.StreamOutput;
import org.elasticsearch.index.mapper.BinaryFieldMapper;
import org.elasticsearch.index.mapper.MappedFieldType;
import org.elasticsearch.index.mapper.vectors.DenseVectorFieldMapper;
import org.elasticsearch.index.query.QueryRewriteContext;
import org.elasticsearch.index.query.SearchExecutionContext;
import org.elasticsearch.plugins.SearchPlugin;
import org.elasticsearch.search.builder.SearchSourceBuilder;
import org.elasticsearch.search.rescore.RescoreContext;
import org.elasticsearch.search.rescore.RescorerBuilder;
import org.elasticsearch.xcontent.XContentBuilder;
import org.elasticsearch.xcontent.XContentParser;

import java.io.IOException;
import java.util.Locale;
import java.util.Objects;
import java.util.function.Supplier;

import static org.elasticsearch.action.ValidateActions.addValidationError;

/**
 * The {@code fuserank_itm} rescorer: reranks each shard's top {@code window_size} hits with the
 * fusion encoder's ITM head (see {@link ItmOptions} for the options, {@link ScoreFormula} for the
 * score, {@link ItmRescorer} for the ranking).
 *
 * <p>The query is encoded once per search, on the coordinating node: the first coordinator
 * {@link #rewrite} registers an asynchronous {@code EncodeAction} and returns a builder that waits
 * for it; the next rewrite round returns a builder carrying the {@link EncodedQuery}, which is what
 * the shards receive (the pattern of Elasticsearch's learning-to-rank rescorer). Shards never
 * encode: a builder that reaches {@link #innerBuildContext} without its encoded query fails.
 */
public final class ItmRescorerBuilder extends RescorerBuilder<ItmRescorerBuilder> {

    public static final String NAME = "fuserank_itm";

    private final ItmOptions options;
    private final EncodedQuery query;
    private final Supplier<EncodedQuery> pendingQuery;
    private final Supplier<ItmServices> services;

    /** A builder for {@code options} (raw, validated here); {@code services} is read when the rescorer runs. */
    public ItmRescorerBuilder(ItmOptions options, Supplier<ItmServices> services) {
        this(options.validated(), null, null, services);
    }

    private ItmRescorerBuilder(ItmOptions validated, EncodedQuery query, Supplier<EncodedQuery> pendingQuery,
                               Supplier<ItmServices> services) {
        this.options = validated;
        this.query = query;
        this.pendingQuery = pendingQuery;
        this.services = Objects.requireNonNull(services, "services");
    }

    public ItmRescorerBuilder(StreamInput in, Supplier<ItmServices> services) throws IOException {
        super(in);
        this.options = ItmOptions.readFrom(in);
        this.query = in.readOptionalWriteable(EncodedQuery::readFrom);
        this.pendingQuery = null;
        this.services = Objects.requireNonNull(services, "services");
    }

    /** The parser and wire reader to register; both hand {@code services} to the builders they make. */
    public static SearchPlugin.RescorerSpec<ItmRescorerBuilder> spec(Supplier<ItmServices> services) {
        return new SearchPlugin.RescorerSpec<>(NAME, in -> new ItmRescorerBuilder(in, services), p -> fromXContent(p, services));
    }

    public static ItmRescorerBuilder fromXContent(XContentParser parser, Supplier<ItmServices> services) {
        return new ItmRescorerBuilder(ItmOptions.fromXContent(parser), null, null, services);
    }

    public ItmOptions options() {
        return options;
    }

    /** The encoded query, null until the coordinator's rewrite has encoded it. */
    public EncodedQuery query() {
        return query;
    }

    /** This builder carrying {@code encoded}, as the coordinator's rewrite produces it. */
    public ItmRescorerBuilder withQuery(EncodedQuery encoded) {
        return copy(encoded, null);
    }

    private ItmRescorerBuilder copy(EncodedQuery encoded, Supplier<EncodedQuery> pending) {
        ItmRescorerBuilder copy = new ItmRescorerBuilder(options, encoded, pending, services);
        if (windowSize != null) {
            copy.windowSize(windowSize);
        }
        return copy;
    }

    @Override
    public RescorerBuilder<ItmRescorerBuilder> rewrite(QueryRewriteContext ctx) {
        if (query != null) {
            return this;
        }
        if (pendingQuery != null) {
            EncodedQuery encoded = pendingQuery.get();
            return encoded == null ? this : withQuery(encoded);
        }
        if (ctx.convertToSearchExecutionContext() != null || ctx.convertToDataRewriteContext() != null
            || ctx.convertToCoordinatorRewriteContext() != null) {
            // not the coordinator's source rewrite: innerBuildContext reports the missing query
            return this;
        }
        SetOnce<EncodedQuery> encoded = new SetOnce<>();
        EncodeRequest.Input input = options.isTextQuery() ? EncodeRequest.Input.text(options.text())
            : EncodeRequest.Input.image(options.image());
        String option = "[" + NAME + "] [" + (options.isTextQuery() ? ItmOptions.TEXT : ItmOptions.IMAGE).getPreferredName() + "]";
        ctx.registerAsyncAction((client, listener) -> QueryEncoder.encode(client, options.modelId(), input, option,
            listener.delegateFailureAndWrap((l, response) -> {
                EncodedQuery query = EncodedQuery.of(response);
                options.formula(query.modelRerank()); // a 400 here, before any shard, where the score reads an ITC the model lacks
                encoded.set(query);
                l.onResponse(null);
            })));
        return copy(null, encoded::get);
    }

    /** A {@code window_size} below 1 is a 400 as the request is parsed. */
    @Override
    public ItmRescorerBuilder windowSize(int windowSize) {
        String invalid = checkWindowFloor(windowSize);
        if (invalid != null) {
            throw new IllegalArgumentException(invalid);
        }
        return super.windowSize(windowSize);
    }

    /** A window below 1 or above {@code fuserank.rescore.max_window} is a 400 before anything is encoded. */
    @Override
    public ActionRequestValidationException validate(SearchSourceBuilder source, ActionRequestValidationException e) {
        String invalid = checkWindow(effectiveWindow());
        return invalid == null ? e : addValidationError(invalid, e);
    }

    @Override
    protected RescoreContext innerBuildContext(int windowSize, SearchExecutionContext context) {
        if (query == null) {
            throw new IllegalStateException("[" + NAME + "] reached shard [" + context.index().getName() + "][" + context.getShardId()
                + "] without its encoded query: the query is encoded by the coordinating node's search rewrite, which did not run");
        }
        String invalid = checkWindow(windowSize);
        if (invalid != null) {
            throw new IllegalArgumentException(invalid);
        }
        ScoreFormula formula = options.formula(query.modelRerank());
        MappedFieldType features = featuresFieldType(context);
        String vectorField = vectorField(context, formula.needsItc());
        CandidateReader reader = new CandidateReader(context.getForField(features, MappedFieldType.FielddataOperation.SEARCH),
            options.featuresField(), vectorField);
        FusionCall fusion = new FusionCall(services().inference(), options.modelId(), query.encoding(), options.isTextQuery());
        String shard = "[" + context.index().getName() + "][" + context.getShardId() + "]";
        return new ItmRescoreContext(windowSize, shard, options.modelId(), options.featuresField(), vectorField, query.embedding(), reader,
            fusion, formula, options, services().windows());
    }

    private MappedFieldType featuresFieldType(SearchExecutionContext context) {
        String field = options.featuresField();
        MappedFieldType type = context.isFieldMapped(field) ? context.getFieldType(field) : null;
        if (type instanceof BinaryFieldMapper.BinaryFieldType == false || type.hasDocValues() == false) {
            throw new IllegalArgumentException(String.format(Locale.ROOT,
                "[%s] [features_field] [%s] must be a [binary] field with [doc_values: true] in index [%s], it is [%s]", NAME, field,
                context.index().getName(), describe(type)));
        }
        return type;
    }

    /** The vector field's name, or null where it is unmapped and the score does not need it. */
    private String vectorField(SearchExecutionContext context, boolean required) {
        String field = options.vectorField();
        MappedFieldType type = context.isFieldMapped(field) ? context.getFieldType(field) : null;
        if ((type == null || query.embedding() == null) && required == false) {
            return null; // unmapped, or the model has no ITC: no ITC part to show
        }
        if (type instanceof DenseVectorFieldMapper.DenseVectorFieldType vectors
            && vectors.getElementType() == DenseVectorFieldMapper.ElementType.FLOAT) {
            if (vectors.getVectorDimensions() != query.embedding().length) {
                throw new IllegalArgumentException(String.format(Locale.ROOT,
                    "[%s] [vector_field] [%s] in index [%s] has [%d] dims, model [%s] embeds in [%d]", NAME, field,
                    context.index().getName(), vectors.getVectorDimensions(), options.modelId(), query.embedding().length));
            }
            return field;
        }
        throw new IllegalArgumentException(String.format(Locale.ROOT,
            "[%s] [vector_field] [%s] must be a float [dense_vector] field in index [%s] for score_mode [%s], it is [%s]", NAME, field,
            context.index().getName(), options.scoreMode(), describe(type)));
    }

    private static String describe(MappedFieldType type) {
        if (type == null) {
            return "unmapped";
        }
        return type instanceof DenseVectorFieldMapper.DenseVectorFieldType vectors
            ? type.typeName() + " of " + vectors.getElementType().toString().toLowerCase(Locale.ROOT)
            : type.typeName() + (type.hasDocValues() ? "" : " without doc_values");
    }

    private int effectiveWindow() {
        return windowSize == null ? DEFAULT_WINDOW_SIZE : windowSize;
    }

    /** Why {@code window} is not a valid window size, or null if it is. */
    private String checkWindow(int window) {
        String tooSmall = checkWindowFloor(window);
        if (tooSmall != null) {
            return tooSmall;
        }
        int max = services().maxWindow();
        return window <= max ? null
            : String.format(Locale.ROOT, "[%s] window_size [%d] is above [%s] [%d]", NAME, window,
                FuseRankSettings.MAX_RESCORE_WINDOW.getKey(), max);
    }

    private static String checkWindowFloor(int window) {
        return window >= 1 ? null : String.format(Locale.ROOT, "[%s] window_size [%d] must be at least [1]", NAME, window);
    }

    private ItmServices services() {
        ItmServices s = services.get();
        if (s == null) {
            throw new IllegalStateException("[" + NAME + "] used before the fuserank plugin created its components");
        }
        return s;
    }

    @Override
    public String getWriteableName() {
        return NAME;
    }

    /** Every node of a cluster runs the same plugin build, so any node the cluster accepts reads this. */
    @Override
    public TransportVersion getMinimalSupportedVersion() {
        return TransportVersion.minimumCompatible();
    }

    @Override
    protected void doWriteTo(StreamOutput out) throws IOException {
        if (pendingQuery != null) {
            throw new IllegalStateException("[" + NAME + "] is waiting for its query encoding and cannot be sent yet");
        }
        options.writeTo(out);
        out.writeOptionalWriteable(query);
    }

    /** The options only: the encoded query is internal (and large), not part of the request's syntax. */
    @Override
    protected void doXContent(XContentBuilder builder, Params params) throws IOException {
        builder.startObject(NAME);
        options.toXContent(builder, params);
        builder.endObject();
    }

    @Override
    public boolean equals(Object o) {
        return super.equals(o) && o instanceof ItmRescorerBuilder that && options.equals(that.options)
            && Objects.equals(query, that.query) && Objects.equals(pendingQuery, that.pendingQuery);
    }

    @Override
    public int hashCode() {
        return Objects.hash(super.hashCode(), options, query);
    }
}
