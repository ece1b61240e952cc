package io.fuserank.encoder;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.util.Map;
import java.util.stream.StreamSupport;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * DJL's tokenizer over the shipped bundle's tokenizer.json gives exactly the ids that the Python
 * training side wrote into the bundle's fixture (casing, punctuation, unknown characters, accents,
 * the empty string, truncation to the manifest's max tokens).
 */
class TokenizerFixtureTest {

    @Test
    void djlReproducesThePythonFixture() throws IOException {
        ModelBundle bundle = ModelBundle.load(ModelBundleTest.SHIPPED);
        JsonNode fixture = new ObjectMapper().readTree(bundle.directory().resolve("reference/tokenizer_fixture.json").toFile());
        int maxTokens = fixture.path("max_tokens").asInt();
        Map<String, String> options = Map.of("truncation", "true", "maxLength", Integer.toString(maxTokens), "padding", "false");
        int cases = 0;
        try (HuggingFaceTokenizer tokenizer = NativeRuntimeCheck.withContextClassLoader(() -> newTokenizer(bundle, options))) {
            for (JsonNode c : fixture.path("cases")) {
                long[] expected = StreamSupport.stream(c.path("ids").spliterator(), false).mapToLong(JsonNode::asLong).toArray();
                long[] actual = tokenizer.encode(c.path("text").asText()).getIds();
                assertArrayEquals(expected, actual, "ids of [" + c.path("text").asText() + "]");
                cases++;
            }
        }
        assertTrue(cases >= 6, "fixture has only " + cases + " cases");
    }

    @Test
    void textTokenizerCleansAndTokenizesAsTraining() throws IOException {
        ModelBundle bundle = ModelBundle.load(ModelBundleTest.SHIPPED);
        JsonNode fixture = new ObjectMapper().readTree(bundle.directory().resolve("reference/tokenizer_fixture.json").toFile());
        int cases = 0;
        try (TextTokenizer tokenizer = TextTokenizer.forBundle(bundle)) {
            for (JsonNode c : fixture.path("cases")) {
                String text = c.path("text").asText();
                assertEquals(c.path("clean").asText(), tokenizer.clean(text), "pre_caption of [" + text + "]");
                if (!c.path("clean").asText().isEmpty()) {
                    long[] expected = StreamSupport.stream(c.path("clean_ids").spliterator(), false).mapToLong(JsonNode::asLong).toArray();
                    assertArrayEquals(expected, tokenizer.encode(text), "ids of [" + text + "]");
                }
                cases++;
            }
        }
        assertTrue(cases >= 9, "fixture has only " + cases + " cases");
    }

    private static HuggingFaceTokenizer newTokenizer(ModelBundle bundle, Map<String, String> options) {
        try {
            return HuggingFaceTokenizer.newInstance(bundle.tokenizer(), options);
        } catch (IOException e) {
            throw new IllegalStateException("cannot load [" + bundle.tokenizer() + "]", e);
        }
    }
}
