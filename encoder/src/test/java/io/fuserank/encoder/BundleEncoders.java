package io.fuserank.encoder;

import java.nio.file.Path;

/** A bundle opened with its manifest's preprocessor and both encoders on one thread: the parity tests' set-up. */
record BundleEncoders(ModelBundle bundle, ImagePreprocessor preprocessor, ImageEncoder images, TextEncoder texts)
    implements AutoCloseable {

    static BundleEncoders open(Path directory) throws Exception {
        ModelBundle bundle = ModelBundle.load(directory);
        ImagePreprocessor preprocessor = ImagePreprocessor.fromManifest(bundle.manifest().get("image"), ImagePreprocessor.Limits.DEFAULT);
        return new BundleEncoders(bundle, preprocessor, new ImageEncoder(bundle, preprocessor, InferenceOptions.cpu(1)),
            new TextEncoder(bundle, TextTokenizer.forBundle(bundle), InferenceOptions.cpu(1)));
    }

    @Override
    public void close() throws Exception {
        images.close();
        texts.tokenizer().close();
        texts.close();
    }
}
