package io.fuserank.tools;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fuserank.encoder.Encoding;
import io.fuserank.encoder.FeatureCodec;
import io.fuserank.encoder.ImageEncoder;
import io.fuserank.encoder.ImagePreprocessor;
import io.fuserank.encoder.InferenceOptions;
import io.fuserank.encoder.ModelBundle;
import io.fuserank.encoder.TextEncoder;
import io.fuserank.encoder.TextTokenizer;
import io.fuserank.encoder.TokenIdsCodec;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** encode on the shipped bundle: its lines carry exactly what the encoder library returns. */
class EncodeCommandTest {

    static final Path MODEL = Path.of("..", "models", "fuserank-small");
    private static final ObjectMapper JSON = new ObjectMapper();
    static ModelBundle bundle;
    static List<String> captions = new ArrayList<>();
    static List<Path> images = new ArrayList<>();

    @BeforeAll
    static void load() throws IOException {
        bundle = ModelBundle.load(MODEL);
        JsonNode reference = JSON.readTree(MODEL.resolve("reference/reference.json").toFile());
        reference.path("captions").forEach(c -> captions.add(c.asText()));
        reference.path("images").forEach(i -> images.add(MODEL.resolve(i.asText())));
    }

    private static List<JsonNode> lines(CliRun run) throws IOException {
        List<JsonNode> out = new ArrayList<>();
        for (String line : run.out().split("\n")) {
            out.add(JSON.readTree(line));
        }
        return out;
    }

    static float[] floats(JsonNode array) {
        float[] out = new float[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = array.get(i).floatValue();
        }
        return out;
    }

    /** An imported BLIP's captions store their token ids (its ITM reads ids), whatever --codec says; its images store features. */
    @Test
    void aBlipCaptionsBlobIsItsTokenIds() throws Exception {
        Path blip = Path.of("..", "encoder", "src", "test", "resources", "bundles", "blip-tiny");
        ModelBundle blipBundle = ModelBundle.load(blip);
        CliRun run = CliRun.of("encode", "--model", blip.toString(), "--features", "--codec", "int8", "--text", "a red circle on the left");
        assertEquals(0, run.exit(), run.toString());
        JsonNode line = lines(run).get(0);
        try (TextTokenizer tokenizer = TextTokenizer.forBundle(blipBundle);
             TextEncoder encoder = new TextEncoder(blipBundle, tokenizer, InferenceOptions.cpu(0))) {
            Encoding expected = encoder.encode(List.of("a red circle on the left")).get(0);
            assertEquals("token_ids", line.path("codec").asText());
            assertEquals(expected.tokenIds().length, line.path("tokens").asInt());
            assertArrayEquals(expected.tokenIds(),
                TokenIdsCodec.decode(Base64.getDecoder().decode(line.path("features").asText()), blipBundle.tokenIdLimits()));
        }
        CliRun image = CliRun.of("encode", "--model", blip.toString(), "--features", "--images", blip.resolve("reference/images/00.png").toString());
        assertEquals(0, image.exit(), image.toString());
        assertEquals(blipBundle.codec(), lines(image).get(0).path("codec").asText());
    }

    @Test
    void textEmbeddingsAreTheTextEncodersOutput() throws Exception {
        List<String> args = new ArrayList<>(List.of("encode", "--model", MODEL.toString(), "--features", "--text"));
        args.addAll(captions);
        CliRun run = CliRun.of(args.toArray(String[]::new));
        assertEquals(0, run.exit(), run.toString());
        List<JsonNode> lines = lines(run);
        assertEquals(captions.size(), lines.size());
        try (TextTokenizer tokenizer = TextTokenizer.forBundle(bundle);
             TextEncoder encoder = new TextEncoder(bundle, tokenizer, InferenceOptions.cpu(0))) {
            List<Encoding> expected = encoder.encode(captions);
            for (int i = 0; i < captions.size(); i++) {
                JsonNode line = lines.get(i);
                assertEquals(captions.get(i), line.path("input").asText());
                assertArrayEquals(expected.get(i).embedding(), floats(line.path("embedding")), 0f, captions.get(i));
                assertEquals(expected.get(i).tokenFeatures().tokens(), line.path("tokens").asInt());
                assertEquals(tokenizer.encode(captions.get(i)).length, line.path("tokens").asInt());
                assertEquals(bundle.codec(), line.path("codec").asText());
                assertArrayEquals(FeatureCodec.fromLabel(bundle.codec()).encode(expected.get(i).tokenFeatures()),
                    Base64.getDecoder().decode(line.path("features").asText()));
                // One text alone encodes the same to float rounding.
                assertArrayEquals(encoder.encode(captions.get(i)).embedding(), floats(line.path("embedding")), 1e-5f);
            }
        }
    }

    @Test
    void imageEmbeddingsAreTheImageEncodersOutput() throws Exception {
        List<String> args = new ArrayList<>(List.of("encode", "--model", MODEL.toString(), "--features", "--codec", "fp32", "--images"));
        images.forEach(p -> args.add(p.toString()));
        CliRun run = CliRun.of(args.toArray(String[]::new));
        assertEquals(0, run.exit(), run.toString());
        List<JsonNode> lines = lines(run);
        assertEquals(images.size(), lines.size());
        ImagePreprocessor pre = ImagePreprocessor.fromManifest(bundle.manifest().get("image"), ImagePreprocessor.Limits.DEFAULT);
        try (ImageEncoder encoder = new ImageEncoder(bundle, pre, InferenceOptions.cpu(0))) {
            List<byte[]> files = new ArrayList<>();
            for (Path p : images) {
                files.add(Files.readAllBytes(p));
            }
            List<Encoding> expected = encoder.encode(files);
            for (int i = 0; i < images.size(); i++) {
                JsonNode line = lines.get(i);
                assertEquals(images.get(i).toString(), line.path("input").asText());
                assertArrayEquals(expected.get(i).embedding(), floats(line.path("embedding")), 0f);
                assertEquals(bundle.imageTokens(), line.path("tokens").asInt());
                assertEquals("fp32", line.path("codec").asText());
                assertArrayEquals(FeatureCodec.FP32.encode(expected.get(i).tokenFeatures()),
                    Base64.getDecoder().decode(line.path("features").asText()));
            }
        }
    }

    @Test
    void aBadInputFailsAloneAndTheExitIsOne(@TempDir Path dir) throws IOException {
        Path broken = dir.resolve("broken.png");
        Files.writeString(broken, "not an image");
        CliRun run = CliRun.of("encode", "--model", MODEL.toString(), "--images", images.get(0).toString(), broken.toString(),
            dir.resolve("missing.png").toString(), images.get(1).toString());
        assertEquals(1, run.exit(), run.toString());
        List<JsonNode> lines = lines(run);
        assertEquals(4, lines.size(), run.out());
        assertTrue(lines.get(0).has("embedding"));
        assertFalse(lines.get(0).has("features"), "no features without --features");
        assertEquals(broken.toString(), lines.get(1).path("input").asText());
        assertTrue(lines.get(1).path("error").isTextual(), lines.get(1).toString());
        assertFalse(lines.get(1).has("embedding"));
        assertTrue(lines.get(2).path("error").asText().startsWith("cannot read the file"), lines.get(2).toString());
        assertTrue(lines.get(3).has("embedding"));
        assertTrue(run.err().contains("encoded 2 of 4 inputs with [fuserank-small], 2 failed"), run.toString());
    }

    @Test
    void textsFileWithAnEmptyCaption(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("texts.txt");
        Files.writeString(file, captions.get(0) + "\n\n  ...  \n" + captions.get(1) + "\n", StandardCharsets.UTF_8);
        CliRun run = CliRun.of("encode", "--model", MODEL.toString(), "--texts-file", file.toString());
        assertEquals(1, run.exit(), run.toString());
        List<JsonNode> lines = lines(run);
        assertEquals(3, lines.size(), run.out());
        assertEquals(captions.get(0), lines.get(0).path("input").asText());
        assertEquals("  ...  ", lines.get(1).path("input").asText());
        assertTrue(lines.get(1).path("error").asText().contains("empty after caption cleaning"), lines.get(1).toString());
        assertEquals(bundle.embeddingDim(), lines.get(2).path("embedding").size());
    }

    @Test
    void argumentErrors() {
        CliRun none = CliRun.of("encode", "--model", MODEL.toString());
        assertEquals(2, none.exit(), none.toString());
        assertTrue(none.err().contains("give the inputs: --text TEXT..., --images FILE... or --texts-file FILE"), none.toString());

        CliRun both = CliRun.of("encode", "--model", MODEL.toString(), "--text", "a", "--images", "x.png");
        assertEquals(2, both.exit(), both.toString());
        assertTrue(both.err().contains("give only one of --text, --images and --texts-file"), both.toString());

        CliRun codec = CliRun.of("encode", "--model", MODEL.toString(), "--text", "a", "--features", "--codec", "bf16");
        assertEquals(2, codec.exit(), codec.toString());
        assertTrue(codec.err().contains("--codec [bf16] is not one of [fp32, fp16, int8]"), codec.toString());

        CliRun model = CliRun.of("encode", "--model", "no/such/model", "--text", "a");
        assertEquals(2, model.exit(), model.toString());
        assertTrue(model.err().contains("--model [no/such/model] is not a directory"), model.toString());

        CliRun file = CliRun.of("encode", "--model", MODEL.toString(), "--texts-file", "no/such/file.txt");
        assertEquals(2, file.exit(), file.toString());
        assertTrue(file.err().contains("--texts-file [no/such/file.txt] cannot be read"), file.toString());
        assertEquals("", none.out() + both.out() + codec.out() + model.out() + file.out());
    }
}
