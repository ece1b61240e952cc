package io.fuserank.plugin.rescore;

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

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The committed model's reference images and captions (caption i describes image i), encoded in the
 * test with the encoder library directly, as a bulk indexer would: ITC vectors and int8 token-feature
 * blobs for both sides.
 */
record ReferenceData(List<byte[]> images, List<float[]> imageVectors, List<byte[]> imageBlobs, List<String> captions,
                     List<float[]> textVectors, List<byte[]> textBlobs) {

    static final String MODEL_ID = "fuserank-small";

    /** The repository's models directory, from the plugin module's directory (the tests' working directory). */
    static Path modelsDir() {
        return Path.of("..", "models").toAbsolutePath().normalize();
    }

    /** A bundle's reference inputs as its {@code reference/reference.json} lists them: image files and captions. */
    record Inputs(JsonNode json, List<byte[]> images, List<String> captions) {
        static Inputs of(ModelBundle bundle) throws IOException {
            JsonNode json = new ObjectMapper().readTree(bundle.directory().resolve("reference").resolve("reference.json").toFile());
            List<byte[]> images = new ArrayList<>();
            for (JsonNode image : json.get("images")) {
                images.add(Files.readAllBytes(bundle.directory().resolve(image.asText())));
            }
            List<String> captions = new ArrayList<>();
            json.get("captions").forEach(c -> captions.add(c.asText()));
            return new Inputs(json, images, captions);
        }
    }

    static ReferenceData load() throws Exception {
        ModelBundle bundle = ModelBundle.load(modelsDir().resolve(MODEL_ID));
        Inputs inputs = Inputs.of(bundle);
        List<byte[]> images = inputs.images();
        List<String> captions = inputs.captions();
        ImagePreprocessor preprocessor = ImagePreprocessor.fromManifest(bundle.manifest().get("image"), ImagePreprocessor.Limits.DEFAULT);
        try (ImageEncoder imageEncoder = new ImageEncoder(bundle, preprocessor, InferenceOptions.cpu(1));
             TextTokenizer tokenizer = TextTokenizer.forBundle(bundle);
             TextEncoder textEncoder = new TextEncoder(bundle, tokenizer, InferenceOptions.cpu(1))) {
            List<Encoding> imageEncodings = imageEncoder.encode(images);
            List<Encoding> textEncodings = textEncoder.encode(captions);
            return new ReferenceData(images, imageEncodings.stream().map(Encoding::embedding).toList(),
                imageEncodings.stream().map(e -> FeatureCodec.INT8.encode(e.tokenFeatures())).toList(), captions,
                textEncodings.stream().map(Encoding::embedding).toList(),
                textEncodings.stream().map(e -> FeatureCodec.INT8.encode(e.tokenFeatures())).toList());
        }
    }
}
