package io.fuserank.plugin.query;

import io.fuserank.encoder.ModelBundle;
import io.fuserank.plugin.action.EncodeRequest;
import io.fuserank.plugin.model.ModelRegistry;
import org.elasticsearch.TransportVersion;
import org.elasticsearch.action.ActionListener;
import org.elasticsearch.client.internal.Client;
import org.elasticsearch.search.vectors.QueryVectorBuilder;
import org.elasticsearch.xcontent.ParseField;

/**
 * What the two query vector builders share: a model id, one input, and the encode call that
 * turns it into the ITC embedding on the coordinating node's inference pool.
 */
abstract class ModelQueryVectorBuilder implements QueryVectorBuilder {

    static final ParseField MODEL_ID = new ParseField("model_id");

    protected final String modelId;

    ModelQueryVectorBuilder(String modelId) {
        ModelRegistry.validateId(modelId);
        this.modelId = modelId;
    }

    public String modelId() {
        return modelId;
    }

    /** The text or image this builder encodes. */
    abstract EncodeRequest.Input input();

    /** The option that holds the input ({@code text} or {@code image}), named by errors about it. */
    abstract ParseField inputField();

    @Override
    public final void buildVector(Client client, ActionListener<float[]> listener) {
        QueryEncoder.encode(client, modelId, input(), "[" + getWriteableName() + "] [" + inputField().getPreferredName() + "]",
            listener.map(response -> {
                float[] embedding = response.results().get(0).encoding().embedding();
                if (embedding == null) {
                    throw new IllegalArgumentException("[" + getWriteableName() + "] model [" + modelId + "] has no ITC embedding: "
                        + ModelBundle.NO_EMBEDDING + "; build the query vector with that model");
                }
                return embedding;
            }));
    }

    /** Every node of a cluster runs the same plugin build, so any node the cluster accepts reads this. */
    @Override
    public final TransportVersion getMinimalSupportedVersion() {
        return TransportVersion.minimumCompatible();
    }
}
