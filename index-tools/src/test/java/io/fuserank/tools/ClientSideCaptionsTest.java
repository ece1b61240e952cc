package io.fuserank.tools;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fuserank.encoder.DocumentStorage;
import io.fuserank.encoder.Encoding;
import io.fuserank.encoder.FeatureCodec;
import io.fuserank.encoder.InferenceOptions;
import io.fuserank.encoder.ModelBundle;
import io.fuserank.encoder.TextEncoder;
import io.fuserank.encoder.TextTokenizer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Caption documents built from a small Karpathy file with the shipped model: what the caption
 * ingest pipeline would write, and a caption the tokenizer rejects fails alone.
 */
class ClientSideCaptionsTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String LONG = "a red circle ".repeat(400);

    static ModelBundle bundle;
    static TextEncoder encoder;

    @TempDir
    Path dir;

    @BeforeAll
    static void open() throws Exception {
        bundle = ModelBundle.load(EncodeCommandTest.MODEL);
        encoder = new TextEncoder(bundle, TextTokenizer.forBundle(bundle), InferenceOptions.cpu(1));
    }

    @AfterAll
    static void close() throws Exception {
        encoder.tokenizer().close();
        encoder.close();
    }

    private List<SourceEntry.Caption> captions() throws Exception {
        Path file = dir.resolve("ann.json");
        Files.writeString(file, """
            [{"image": "images/test/000000.png", "caption": ["a large blue cross above a small white triangle", ""]},
             {"image": "images/test/000001.png", "caption": ["a red circle to the left of a green square", "%s"]}]"""
            .formatted(LONG));
        return KarpathyFile.read(file).captions().entries().map(SourceEntry.Caption.class::cast).toList();
    }

    @Test
    void documentsCarryTheCaptionItsImageAndWhatThePipelineWouldWrite() throws Exception {
        List<SourceEntry.Caption> captions = captions();
        Path deadLetters = dir.resolve("dead.jsonl");
        EncoderClock clock = new EncoderClock();
        List<IndexDocument> documents;
        Tally tally;
        try (DeadLetterFile file = new DeadLetterFile(deadLetters)) {
            tally = new Tally(file, Progress.create(false, captions.size()));
            documents = new ClientSideCaptions(encoder, DocumentStorage.of(bundle), FeatureCodec.INT8, tally, clock).documents(captions);
        }
        List<SourceEntry.Caption> good = List.of(captions.get(0), captions.get(2));
        List<Encoding> expected = encoder.encode(good.stream().map(SourceEntry.Caption::text).toList());
        assertEquals(2, documents.size());
        assertEquals(2, clock.items());
        for (int i = 0; i < good.size(); i++) {
            SourceEntry.Caption caption = good.get(i);
            IndexDocument document = documents.get(i);
            assertEquals(DocumentIds.forCaption(caption.path(), caption.index()), document.id());
            assertEquals(caption.path(), document.path());
            JsonNode source = JSON.readTree(document.json());
            assertEquals(List.of("caption", "image_path", "caption_index", "text_vector", "text_features"), fieldNames(source));
            assertEquals(caption.text(), source.path("caption").asText());
            assertEquals(caption.path(), source.path("image_path").asText());
            assertEquals(caption.index(), source.path("caption_index").asInt());
            assertEquals(bundle.embeddingDim(), source.path("text_vector").size());
            assertArrayEquals(expected.get(i).embedding(), EncodeCommandTest.floats(source.path("text_vector")), 0f);
            byte[] blob = source.path("text_features").binaryValue();
            FeatureCodec.Header header = FeatureCodec.header(blob);
            assertEquals(new FeatureCodec.Header(FeatureCodec.INT8, bundle.featureLayers(), encoder.tokenizer().encode(caption.text()).length,
                bundle.featureWidth()), header);
            assertArrayEquals(FeatureCodec.INT8.encode(expected.get(i).tokenFeatures()), blob);
        }
        assertEquals(2, tally.failed());
        List<JsonNode> lines = new ArrayList<>();
        for (String line : Files.readAllLines(deadLetters)) {
            lines.add(JSON.readTree(line));
        }
        assertEquals(2, lines.size());
        assertEquals(DocumentIds.forCaption("images/test/000000.png", 1), lines.get(0).path("id").asText());
        assertEquals("images/test/000000.png", lines.get(0).path("path").asText());
        assertEquals("BAD_CAPTION: caption [1] of [images/test/000000.png]: text is empty", lines.get(0).path("reason").asText());
        assertEquals(DocumentIds.forCaption("images/test/000001.png", 1), lines.get(1).path("id").asText());
        assertTrue(lines.get(1).path("reason").asText().startsWith("BAD_CAPTION: caption [1] of [images/test/000001.png]: text has [5200] "
            + "characters, more than the limit [4096]"), lines.get(1).toString());
    }

    private static List<String> fieldNames(JsonNode node) {
        List<String> names = new ArrayList<>();
        for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
            names.add(it.next());
        }
        return names;
    }
}
