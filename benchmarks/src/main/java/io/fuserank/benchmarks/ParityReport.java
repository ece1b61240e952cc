package io.fuserank.benchmarks;

import io.fuserank.encoder.Encoding;
import io.fuserank.encoder.FeatureCodec;
import io.fuserank.encoder.ImageEncoder;
import io.fuserank.encoder.ImagePreprocessor;
import io.fuserank.encoder.InferenceOptions;
import io.fuserank.encoder.ModelBundle;
import io.fuserank.encoder.ReferenceArrays;
import io.fuserank.encoder.TextEncoder;
import io.fuserank.encoder.TextTokenizer;
import io.fuserank.reranker.FusionScorer;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * Prints how far the Java runtime is from the PyTorch reference outputs a bundle carries, end to
 * end from the reference PNG files and caption strings: preprocessing, embeddings (max abs diff
 * and min cosine), token features, ITM logits, and whether the token ids are identical. The
 * encoder and reranker tests assert the same bounds; this prints the figures.
 *
 * <pre>java -cp ... io.fuserank.benchmarks.ParityReport [BUNDLE]</pre>
 */
public final class ParityReport {

    private ParityReport() {
    }

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args.length > 0 ? args[0] : "models/fuserank-small");
        ModelBundle bundle = ModelBundle.load(dir);
        ReferenceArrays reference = new ReferenceArrays(dir);
        List<byte[]> files = new ArrayList<>();
        for (Path image : reference.images()) {
            files.add(Files.readAllBytes(image));
        }
        List<String> captions = reference.captions();
        int width = bundle.featureWidth();

        ImagePreprocessor pre = ImagePreprocessor.fromManifest(bundle.manifest().get("image"), ImagePreprocessor.Limits.DEFAULT);
        try (ImageEncoder images = new ImageEncoder(bundle, pre, InferenceOptions.CPU);
             TextTokenizer tokenizer = TextTokenizer.forBundle(bundle);
             TextEncoder texts = new TextEncoder(bundle, tokenizer, InferenceOptions.CPU);
             FusionScorer scorer = new FusionScorer(bundle, InferenceOptions.CPU, 64)) {
            float[] pixels = reference.floats("pixels");
            double pixelDiff = 0;
            for (int i = 0; i < files.size(); i++) {
                float[] p = pre.preprocess(files.get(i));
                pixelDiff = Math.max(pixelDiff, ReferenceArrays.maxAbsDiff(p, 0, pixels, i * p.length, p.length));
            }
            List<Encoding> imageOut = images.encode(files);
            List<Encoding> textOut = texts.encode(captions);
            boolean idsEqual = Arrays.equals(reference.longs("input_ids"), tokenizer.encodeBatch(captions).ids());
            float[] imageEmb = reference.floats("image_embedding");
            float[] textEmb = reference.floats("text_embedding");
            float[] imageFeat = reference.floats("image_token_features");
            float[] textFeat = reference.floats("text_token_features");
            float[] logits = reference.floats("itm_logits");
            int dim = bundle.embeddingDim();
            int textLength = reference.shape("input_ids")[1];
            double embDiff = 0, minCos = 1, featDiff = 0, itmDiff = 0, itmDiffInt8 = 0;
            for (int i = 0; i < imageOut.size(); i++) {
                embDiff = Math.max(embDiff, ReferenceArrays.maxAbsDiff(imageOut.get(i).embedding(), 0, imageEmb, i * dim, dim));
                minCos = Math.min(minCos, ReferenceArrays.cosine(imageOut.get(i).embedding(), imageEmb, i * dim));
                float[] f = imageOut.get(i).tokenFeatures().values();
                featDiff = Math.max(featDiff, ReferenceArrays.maxAbsDiff(f, 0, imageFeat, i * f.length, f.length));
            }
            List<byte[]> fp32 = imageOut.stream().map(e -> FeatureCodec.FP32.encode(e.tokenFeatures())).toList();
            List<byte[]> int8 = imageOut.stream().map(e -> FeatureCodec.INT8.encode(e.tokenFeatures())).toList();
            for (int c = 0; c < textOut.size(); c++) {
                embDiff = Math.max(embDiff, ReferenceArrays.maxAbsDiff(textOut.get(c).embedding(), 0, textEmb, c * dim, dim));
                minCos = Math.min(minCos, ReferenceArrays.cosine(textOut.get(c).embedding(), textEmb, c * dim));
                float[] f = textOut.get(c).tokenFeatures().values();
                featDiff = Math.max(featDiff, ReferenceArrays.maxAbsDiff(f, 0, textFeat, c * textLength * width, f.length));
                float[] s32 = scorer.scoreImages(textOut.get(c).tokenFeatures(), fp32);
                float[] s8 = scorer.scoreImages(textOut.get(c).tokenFeatures(), int8);
                for (int i = 0; i < s32.length; i++) {
                    float expected = logits[(i * captions.size() + c) * 2 + 1];
                    itmDiff = Math.max(itmDiff, Math.abs(s32[i] - expected));
                    itmDiffInt8 = Math.max(itmDiffInt8, Math.abs(s8[i] - expected));
                }
            }
            System.out.printf(Locale.ROOT, "bundle [%s], %d reference images, %d captions, end to end from PNG files and strings%n",
                bundle.name(), files.size(), captions.size());
            System.out.printf(Locale.ROOT, "preprocessing tensors      max abs diff %.3g%n", pixelDiff);
            System.out.printf(Locale.ROOT, "token ids                  %s%n", idsEqual ? "identical" : "DIFFERENT");
            System.out.printf(Locale.ROOT, "embeddings                 max abs diff %.3g, min cosine %.7f%n", embDiff, minCos);
            System.out.printf(Locale.ROOT, "token features             max abs diff %.3g%n", featDiff);
            System.out.printf(Locale.ROOT, "ITM logits (fp32 blobs)    max abs diff %.3g%n", itmDiff);
            System.out.printf(Locale.ROOT, "ITM logits (int8 blobs)    max abs diff %.3g%n", itmDiffInt8);
        }
    }
}
