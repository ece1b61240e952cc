"""Export a trained checkpoint to the model bundle that the Java side loads.

A bundle directory (the contract between Python and Java, ../shared/docs/architecture.md):

    manifest.json          every file with its sha256; graphs' input/output names and shapes;
                           image preprocessing; text limits; widths, token counts, codec; score
    image_encoder.onnx     pixels -> normalized ITC embedding + image token features
    text_encoder.onnx      input_ids + attention_mask -> normalized ITC embedding + token features
    fusion_itm.onnx        text features + mask, image features + mask -> ITM logits
    tokenizer.json         the WordPiece tokenizer training used (DJL loads the same file)
    reference/             real test-split images and captions with PyTorch's outputs for them
                           (raw little-endian float32/int64 .bin files indexed by reference.json)
                           and the tokenizer fixture: the Java parity tests reproduce these

Graphs are exported with ``torch.onnx.export`` (the TorchScript exporter; BLIP/ALBEF-family
models are not covered by Hugging Face optimum), dynamic batch and token axes, checked with
``onnx.checker`` and run once in ONNX Runtime against PyTorch before the manifest is written.

    python export.py --checkpoint runs/small/checkpoint_best.pt --out bundles/small \\
        --reference-ann data/scenes/test.json --image-root data/scenes [--int8]

``--int8`` then adds int8 versions of the three graphs beside them (``quantize.py``, dynamic).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from torch import nn

import data
import quantize
from bundle_io import BUNDLE_FORMAT, OPSET, ReferenceWriter, export_graph, file_entries, remove_int8_graphs
from feature_codec import CODECS, bytes_per_item
from fusion_contract import check_manifest, fusion_section
from model import ALBEF, fusion_flops_per_pair
from checkpoints import model_from_checkpoint
from retrieval_eval import SCORE
from tokenizer import TextTokenizer, write_fixture


class ImageEncoderGraph(nn.Module):
    def __init__(self, model: ALBEF):
        super().__init__()
        self.model = model

    def forward(self, pixels):
        return self.model.encode_image(pixels)


class TextEncoderGraph(nn.Module):
    def __init__(self, model: ALBEF):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask):
        return self.model.encode_text(input_ids, attention_mask)


class FusionItmGraph(nn.Module):
    def __init__(self, model: ALBEF):
        super().__init__()
        self.model = model

    def forward(self, text_features, text_mask, image_features, image_mask):
        return self.model.itm_logits(text_features, text_mask, image_features, image_mask)


def graph_specs(model: ALBEF) -> dict:
    """Names, dtypes and shapes of each graph's tensors; strings are dynamic axes."""
    c = model.cfg
    return contract_specs(c.image_size, c.embed_dim, c.feature_layers * c.image_tokens, c.text_width)


def contract_specs(s: int, d: int, image_layer_tokens: int, w: int) -> dict:
    """The three graphs' signatures that the Java side reads (``ImageEncoder``, ``TextEncoder``,
    ``FusionScorer``): ``s``-pixel square images, ``d``-wide ITC vectors, ``image_layer_tokens``
    stored rows per image and token features ``w`` wide. Shared with ``importers/albef.py``."""
    return {
        "image_encoder": {
            "inputs": [{"name": "pixels", "dtype": "float32", "shape": ["batch", 3, s, s]}],
            "outputs": [
                {"name": "embedding", "dtype": "float32", "shape": ["batch", d]},
                {"name": "token_features", "dtype": "float32", "shape": ["batch", image_layer_tokens, w]},
            ],
        },
        "text_encoder": {
            "inputs": [
                {"name": "input_ids", "dtype": "int64", "shape": ["batch", "tokens"]},
                {"name": "attention_mask", "dtype": "int64", "shape": ["batch", "tokens"]},
            ],
            "outputs": [
                {"name": "embedding", "dtype": "float32", "shape": ["batch", d]},
                {"name": "token_features", "dtype": "float32", "shape": ["batch", "layer_tokens", w]},
            ],
        },
        "fusion_itm": {
            "inputs": [
                {"name": "text_features", "dtype": "float32", "shape": ["batch", "text_layer_tokens", w]},
                {"name": "text_mask", "dtype": "int64", "shape": ["batch", "text_tokens"]},
                {"name": "image_features", "dtype": "float32", "shape": ["batch", "image_layer_tokens", w]},
                {"name": "image_mask", "dtype": "int64", "shape": ["batch", "image_tokens"]},
            ],
            "outputs": [{"name": "itm_logits", "dtype": "float32", "shape": ["batch", 2]}],
        },
    }


# Where each input of our fusion graph comes from (fusion_contract.py): the text encoder's token
# features and the tokenizer's mask, the image encoder's token features and a mask over their rows.
FUSION_INPUTS = {"text_features": "text.token_features", "text_mask": "text.attention_mask",
                 "image_features": "image.token_features", "image_mask": "image.token_mask"}


@torch.no_grad()
def write_reference(model: ALBEF, tokenizer: TextTokenizer, transform: data.ImageTransform, ann: Path,
                    image_root: Path, bundle: Path, count: int) -> dict:
    """The first ``count`` images of a real split and one caption of each, with PyTorch's
    preprocessing tensors, embeddings, token features, and ITM logits of every image x caption."""
    annotations = data.load_annotations(ann)[:count]
    (bundle / "reference" / "images").mkdir(parents=True, exist_ok=True)
    images, captions = [], []
    for i, entry in enumerate(annotations):
        source = image_root / entry["image"]
        target = bundle / "reference" / "images" / f"{i:02d}{source.suffix}"
        shutil.copyfile(source, target)
        images.append(target.relative_to(bundle).as_posix())
        captions.append(data.pre_caption(entry["caption"][0]))
    pixels = torch.stack([transform(bundle / p) for p in images])
    image_embedding, image_features = model.encode_image(pixels)
    ids, mask = tokenizer.encode_batch(captions)
    text_embedding, text_features = model.encode_text(ids, mask)
    n_img, n_txt = len(images), len(captions)
    image_mask = torch.ones(n_img * n_txt, image_features.shape[1] // model.cfg.feature_layers, dtype=torch.long)
    logits = model.itm_logits(
        text_features.repeat(n_img, 1, 1), mask.repeat(n_img, 1),
        image_features.repeat_interleave(n_txt, dim=0), image_mask,
    ).view(n_img, n_txt, 2)
    write_fixture(tokenizer, bundle / "reference" / "tokenizer_fixture.json")
    return save_reference(bundle, images, captions, {
        "pixels": pixels, "ids": ids, "mask": mask, "image_embedding": image_embedding, "image_features": image_features,
        "text_embedding": text_embedding, "text_features": text_features, "logits": logits})


# The reference arrays' file names (what the Java parity tests read) for write_reference's keys.
REFERENCE_ARRAYS = {"pixels": "pixels", "image_embedding": "image_embedding", "image_features": "image_token_features",
                    "ids": "input_ids", "mask": "attention_mask", "text_embedding": "text_embedding",
                    "text_features": "text_token_features", "logits": "itm_logits"}


def save_reference(bundle: Path, images: list[str], captions: list[str], arrays: dict, **about) -> dict:
    """Write ``arrays`` (``REFERENCE_ARRAYS``' keys; logits ``[image, caption, 2]``) and
    ``reference/reference.json`` naming the images, captions and ``about``; returns ``arrays``."""
    ref = ReferenceWriter(bundle / "reference")
    for key, name in REFERENCE_ARRAYS.items():
        ref.add(name, arrays[key])
    reference = {"images": images, "captions": captions, "arrays": ref.index,
                 "itm_logits_layout": "[image, caption, (no_match, match)]",
                 "tokenizer_fixture": "reference/tokenizer_fixture.json", **about}
    (bundle / "reference" / "reference.json").write_text(json.dumps(reference, indent=1) + "\n", encoding="utf-8")
    return arrays


def onnx_parity(bundle: Path, ref: dict, feature_layers: int) -> dict:
    """Run the exported graphs in ONNX Runtime on the reference inputs; max abs diff vs PyTorch."""
    def session(name):
        return ort.InferenceSession(str(bundle / f"{name}.onnx"), providers=["CPUExecutionProvider"])

    img_emb, img_feat = session("image_encoder").run(None, {"pixels": ref["pixels"].numpy()})
    txt_emb, txt_feat = session("text_encoder").run(
        None, {"input_ids": ref["ids"].numpy(), "attention_mask": ref["mask"].numpy()})
    n_img, n_txt = img_feat.shape[0], txt_feat.shape[0]
    image_tokens = img_feat.shape[1] // feature_layers
    (logits,) = session("fusion_itm").run(None, {
        "text_features": np.tile(txt_feat, (n_img, 1, 1)), "text_mask": np.tile(ref["mask"].numpy(), (n_img, 1)),
        "image_features": np.repeat(img_feat, n_txt, axis=0),
        "image_mask": np.ones((n_img * n_txt, image_tokens), dtype=np.int64)})
    diff = lambda a, b: float(np.abs(a - b.detach().numpy()).max())  # noqa: E731
    return {"image_embedding": diff(img_emb, ref["image_embedding"]), "image_token_features": diff(img_feat, ref["image_features"]),
            "text_embedding": diff(txt_emb, ref["text_embedding"]), "text_token_features": diff(txt_feat, ref["text_features"]),
            "itm_logits": diff(logits.reshape(n_img, n_txt, 2), ref["logits"])}


def export_bundle(checkpoint_path: Path, out: Path, reference_ann: Path, image_root: Path, codec: str = "int8",
                  reference_count: int = 4, name: str | None = None, rerank: dict | None = None) -> dict:
    if codec not in CODECS:
        raise ValueError(f"unknown codec [{codec}]; valid codecs: {list(CODECS)}")
    model, checkpoint = model_from_checkpoint(checkpoint_path)
    model.eval()
    cfg = model.cfg
    out.mkdir(parents=True, exist_ok=True)
    remove_int8_graphs(out)
    (out / "tokenizer.json").write_text(checkpoint["tokenizer_json"], encoding="utf-8")
    tokenizer = TextTokenizer(out / "tokenizer.json", cfg.max_tokens)
    transform = data.ImageTransform(cfg.image_size)

    specs = graph_specs(model)
    s, n = cfg.image_size, cfg.feature_layers
    example_pixels = torch.zeros(2, 3, s, s)
    example_ids, example_mask = tokenizer.encode_batch(["a red circle", "a large blue square left of a small red star"])
    with torch.no_grad():
        _, img_feat = model.encode_image(example_pixels)
        _, txt_feat = model.encode_text(example_ids, example_mask)
    export_graph(ImageEncoderGraph(model), (example_pixels,), specs["image_encoder"], out / "image_encoder.onnx")
    export_graph(TextEncoderGraph(model), (example_ids, example_mask), specs["text_encoder"], out / "text_encoder.onnx")
    image_mask = torch.ones(2, cfg.image_tokens, dtype=torch.long)
    export_graph(FusionItmGraph(model), (txt_feat, example_mask, img_feat, image_mask), specs["fusion_itm"],
                 out / "fusion_itm.onnx")

    ref = write_reference(model, tokenizer, transform, reference_ann, image_root, out, reference_count)
    parity = onnx_parity(out, ref, n)

    manifest = {
        "format_version": BUNDLE_FORMAT,
        "name": name or out.name,
        "model": {"family": "albef", "bridge": cfg.bridge, "config": cfg.to_dict(),
                  "training_step": checkpoint.get("step"), "validation": checkpoint.get("metrics")},
        "embedding": {"dim": cfg.embed_dim, "normalized": True, "similarity": "dot_product"},
        "token_features": {"width": cfg.text_width, "feature_layers": n, "image_tokens": cfg.image_tokens,
                           "layout": "[tokens = feature_layers x tokens_per_layer, width], layer-major",
                           "codec": codec, "codecs": list(CODECS)},
        "text": {"tokenizer": "tokenizer.json", "max_tokens": cfg.max_tokens,
                 "preprocessing": "albef_pre_caption", "max_words": 30,
                 "pad_id": tokenizer.pad_id, "cls_id": tokenizer.cls_id, "sep_id": tokenizer.sep_id},
        "image": transform.manifest(),
        "graphs": {key: {"file": f"{key}.onnx", "opset": OPSET, **spec} for key, spec in specs.items()},
        "fusion": fusion_section(FUSION_INPUTS),
        "score": SCORE,
        "rerank": rerank or {"itc_weight": 1.0, "chosen_by": "default: BLIP's sum"},
        "fusion_flops_per_pair": fusion_flops_per_pair(cfg, cfg.max_tokens),
        "bytes_per_image": bytes_per_item(n, cfg.image_tokens, cfg.text_width),
        "export_check": {"onnxruntime": ort.__version__, "max_abs_diff_vs_pytorch": parity},
        "files": file_entries(out),
    }
    check_manifest(manifest)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return manifest


def rerank_section(args, parser) -> dict | None:
    """The manifest's ``rerank`` section: the W the plugin's ``itm_plus_itc`` uses where a request names
    no ``itc_weight`` (ITM logit + W x ITC), and where it came from."""
    if args.blend_report is not None:
        report = json.loads(args.blend_report.read_text(encoding="utf-8"))
        chosen = report.get("chosen_itc_weight", {})
        if str(args.blend_window) not in chosen:
            parser.error(f"--blend-report [{args.blend_report}] chose no weight for --blend-window [{args.blend_window}]; "
                         f"it has windows {sorted(chosen, key=int)}")
        window = str(args.blend_window)
        return {"itc_weight": float(chosen[window]),
                "chosen_by": f"blend_weight.py: best val IR R@1 at window {window}",
                "val_ir_r1": report.get("val_ir_r1", {}),
                "test": {row: r for row, r in report.get("test", {}).items() if row == "ITC" or f"k={window}" in row}}
    if args.itc_weight is not None:
        if not math.isfinite(args.itc_weight) or args.itc_weight < 0:
            parser.error(f"--itc-weight [{args.itc_weight}] must be a finite number >= 0")
        return {"itc_weight": args.itc_weight, "chosen_by": "export.py --itc-weight"}
    return None


def main(argv=None):
    p = argparse.ArgumentParser(description="Export a checkpoint to a fuserank model bundle.")
    p.add_argument("--checkpoint", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--reference-ann", type=Path, required=True, help="annotations of a real split for the reference outputs")
    p.add_argument("--image-root", type=Path, required=True)
    p.add_argument("--codec", default="int8", choices=CODECS, help="token-feature codec the index should use")
    p.add_argument("--reference-count", type=int, default=4)
    p.add_argument("--name")
    weight = p.add_mutually_exclusive_group()
    weight.add_argument("--blend-report", type=Path,
                        help="blend_weight.py's report: the bundle recommends the ITC weight it chose for --blend-window")
    weight.add_argument("--itc-weight", type=float, help="the ITC weight the bundle recommends (default 1, BLIP's)")
    p.add_argument("--blend-window", type=int, default=16, help="the rerank window whose chosen weight --blend-report gives")
    p.add_argument("--int8", action="store_true",
                   help="also write int8 versions of the three graphs (quantize.py, dynamic) and the manifest's precisions")
    args = p.parse_args(argv)
    manifest = export_bundle(args.checkpoint, args.out, args.reference_ann, args.image_root, args.codec,
                             args.reference_count, args.name, rerank_section(args, p))
    report = {"parity": manifest["export_check"]["max_abs_diff_vs_pytorch"]}
    if args.int8:
        manifest = quantize.quantize_bundle(args.out)
        report["int8"] = quantize.summary(args.out, manifest)
    size = sum(f["bytes"] for f in manifest["files"].values())
    print(json.dumps({"bundle": str(args.out), "bytes": size, **report}))


if __name__ == "__main__":
    main()
