package io.fuserank.plugin.action;

import io.fuserank.encoder.DocumentStorage;
import io.fuserank.encoder.Encoding;
import io.fuserank.encoder.FeatureCodec;
import io.fuserank.encoder.FusionDeclaration.Modality;
import io.fuserank.encoder.FusionDeclaration.Quantity;
import io.fuserank.encoder.TokenFeatures;
import io.fuserank.encoder.TokenIdsCodec;
import io.fuserank.plugin.query.QueryTestSupport;
import io.fuserank.reranker.RerankDefaults;
import io.fuserank.reranker.ScoreMode;
import org.elasticsearch.common.breaker.CircuitBreaker;
import org.elasticsearch.common.breaker.CircuitBreakingException;
import org.elasticsearch.common.io.stream.BytesStreamOutput;
import org.elasticsearch.common.io.stream.StreamInput;
import org.elasticsearch.rest.RestStatus;
import org.elasticsearch.test.ESTestCase;

import java.io.IOException;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The encode response survives the wire: results in order, each failure with its type (a bad
 * input's 400, a breaker's 429), encodings with features or token ids, and what the model's
 * documents store and its ITC weight.
 */
public class EncodeResponseTests extends ESTestCase {

    public void testRoundTrip() throws IOException {
        FeatureCodec codec = randomFrom(FeatureCodec.values());
        TokenFeatures features = new TokenFeatures(1, 2, 2, new float[] {1, 2, 3, 4});
        // A BLIP caption: ids, no features, and its documents store ids.
        Encoding blipCaption = new Encoding(new float[] {0.25f}, null, new long[] {101, 2003, 102});
        DocumentStorage blip = new DocumentStorage(Map.of(Modality.TEXT, Optional.of(Quantity.TOKEN_IDS),
            Modality.IMAGE, Optional.of(Quantity.TOKEN_FEATURES)), codec, new TokenIdsCodec.Limits(35, 30524));
        DocumentStorage storage = randomFrom(QueryTestSupport.featuresStored(codec), blip);
        EncodeResponse response = new EncodeResponse(List.of(EncodeResponse.Result.ok(new Encoding(new float[] {0.5f}, features)),
            EncodeResponse.Result.invalid("image is empty [0] bytes"),
            EncodeResponse.Result.failed(new CircuitBreakingException("[fuserank] Data too large", 10, 5, CircuitBreaker.Durability.TRANSIENT)),
            EncodeResponse.Result.ok(blipCaption)),
            storage, QueryTestSupport.rerank(256f));
        EncodeResponse copy;
        try (BytesStreamOutput out = new BytesStreamOutput()) {
            response.writeTo(out);
            try (StreamInput in = out.bytes().streamInput()) {
                copy = new EncodeResponse(in);
            }
        }
        assertEquals(storage, copy.documentStorage());
        assertEquals(new RerankDefaults(ScoreMode.ITM_PLUS_ITC, 256f, true), copy.modelRerank());
        assertEquals(4, copy.results().size());
        assertArrayEquals(new float[] {0.5f}, copy.results().get(0).encoding().embedding(), 0f);
        assertArrayEquals(features.values(), copy.results().get(0).encoding().tokenFeatures().values(), 0f);
        assertNull(copy.results().get(0).encoding().tokenIds());
        assertNull(copy.results().get(3).encoding().tokenFeatures());
        assertArrayEquals(blipCaption.tokenIds(), copy.results().get(3).encoding().tokenIds());
        assertEquals("image is empty [0] bytes", copy.results().get(1).error().getMessage());
        Exception invalid = copy.results().get(1).failure("field [image]");
        assertEquals(IllegalArgumentException.class, invalid.getClass());
        assertEquals("field [image]: image is empty [0] bytes", invalid.getMessage());

        CircuitBreakingException tripped = (CircuitBreakingException) copy.results().get(2).error();
        assertEquals(RestStatus.TOO_MANY_REQUESTS, tripped.status());
        assertEquals(10, tripped.getBytesWanted());
        assertSame("a refusal is not the input's fault: passed on as it is", tripped, copy.results().get(2).failure("field [image]"));
    }
}
