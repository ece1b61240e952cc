"""The hostile-input suite: bad documents, images, requests and stored blobs against a real node.

Run by ``scripts/hostile-input-test``, which starts the node (plain HTTP, no security: the security
matrix is ``scripts/security-test``'s). Every case sends what a hostile or careless user could send
and asserts two things: the HTTP status (or the bulk item's status) and that the error's *root
cause* names the offending field and value, so that a user reading only ``root_cause[0].reason``
knows what to fix. Stored corrupt token-feature blobs are the other half: a search whose rescore
window holds them must succeed, score the good hits, keep the bad ones' first-stage scores, never
give a non-finite score, and say which documents it could not score.

Then the node must still be up and still answer a normal search with the right first hit, and
10,000 more failing requests must not grow its RSS or its heap after GC past a bound. The two crash
reproductions of issue 18 (a 65,535-token blob in the window; concurrent 6,300 x 6,300 16-bit PNG
image queries with 4 inference threads) run as regression cases and end with the node alive.

Usage: hostile_input.py URL NODE_PID [--failures N] [--out results.json]
"""
from __future__ import annotations

import argparse
import base64
import collections
import concurrent.futures
import io
import json
import math
import os
import random
import re
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from decode_memory_check import check_concurrent_large_images, png

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "models" / "fuserank-small" / "reference"
MAPPINGS = ROOT / "example-queries" / "mappings"
MODEL = "fuserank-small"

# ----------------------------------------------------------------------------------------------- HTTP


@dataclass
class Response:
    status: int
    body: dict
    headers: dict

    def reason(self) -> str:
        """The root cause's reason of an error response (what a user sees first)."""
        error = self.body.get("error")
        if isinstance(error, dict):
            causes = error.get("root_cause") or [error]
            return " | ".join(f"{c.get('type')}: {c.get('reason')}" for c in causes)
        return json.dumps(self.body)[:400]


def call(url: str, method: str, path: str, body=None, ndjson: str | None = None, timeout: float = 120) -> Response:
    data, content_type = None, "application/json"
    if ndjson is not None:
        data, content_type = ndjson.encode(), "application/x-ndjson"
    elif body is not None:
        data = (body if isinstance(body, str) else json.dumps(body)).encode()
    request = urllib.request.Request(url + path, data=data, method=method, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return Response(r.status, _json(r.read()), dict(r.headers))
    except urllib.error.HTTPError as e:
        return Response(e.code, _json(e.read()), dict(e.headers))


def _json(raw: bytes) -> dict:
    try:
        parsed = json.loads(raw) if raw else {}
    except ValueError:
        return {"raw": raw[:400].decode("utf-8", "replace")}
    return parsed if isinstance(parsed, dict) else {"value": parsed}


# --------------------------------------------------------------------------------------------- inputs


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def reference_image(i: int = 0) -> bytes:
    return (REFERENCE / "images" / f"{i:02d}.png").read_bytes()


def reference_captions() -> list[str]:
    return json.loads((REFERENCE / "reference.json").read_text())["captions"]


def gif_header_bomb() -> bytes:
    """A GIF whose logical screen and first frame claim 60,000 x 60,000 pixels."""
    screen = b"GIF89a" + struct.pack("<HHBBB", 60000, 60000, 0, 0, 0)
    frame = b"\x2c" + struct.pack("<HHHHB", 0, 0, 60000, 60000, 0) + b"\x02\x02\x44\x01\x00" + b"\x3b"
    return screen + frame


# ---------------------------------------------------------------------------------------- blob format

CODEC_IDS = {"fp32": 0, "fp16": 1, "int8": 2}


def blob_header(codec: int, layers: int, tokens: int, width: int, magic: bytes = b"FR", version: int = 1) -> bytes:
    """encoder/FeatureCodec's 10-byte header, written from its documented layout."""
    return magic + bytes([version, codec, layers, 0]) + struct.pack("<HH", tokens, width)


def fp32_blob(values: list[float], layers: int, tokens: int, width: int) -> bytes:
    return blob_header(0, layers, tokens, width) + struct.pack(f"<{len(values)}f", *values)


def int8_blob(rows: list[tuple[float, list[int]]], layers: int, tokens: int, width: int) -> bytes:
    # One join: the 65,535-row crash case would copy megabytes per row with +=.
    return blob_header(2, layers, tokens, width) + b"".join(
        struct.pack("<f", scale) + struct.pack(f"<{len(qs)}b", *qs) for scale, qs in rows)


# ------------------------------------------------------------------------------------------ the suite


@dataclass
class Outcome:
    name: str
    area: str
    status: int
    expected: int
    reason: str
    needles: list[str]
    ok: bool


@dataclass
class Suite:
    url: str
    outcomes: list[Outcome] = field(default_factory=list)

    def expect(self, area: str, name: str, response: Response, status: int, *needles: str, reason: str | None = None):
        text = response.reason() if reason is None else reason
        ok = response.status == status and all(n.lower() in text.lower() for n in needles)
        self.outcomes.append(Outcome(name, area, response.status, status, text[:300], list(needles), ok))
        mark = "ok    " if ok else "FAILED"
        print(f"{mark} [{area}] {name}: {response.status} (want {status}) {text[:220]}", flush=True)
        return ok

    def check(self, area: str, name: str, ok: bool, detail: str, status: int = 200):
        self.outcomes.append(Outcome(name, area, status, status if ok else -1, detail[:300], [], ok))
        print(f"{'ok    ' if ok else 'FAILED'} [{area}] {name}: {detail[:220]}", flush=True)
        return ok


def knn_text(text, model=MODEL, field_="image_vector", extra=None):
    builder = {"model_id": model, "text": text} if model is not None else {"text": text}
    if text is None:
        builder.pop("text")
    body = {"knn": {"field": field_, "k": 10, "num_candidates": 50,
                    "query_vector_builder": {"fuserank_text": builder}}}
    body.update(extra or {})
    return body


def knn_image(image_b64, model=MODEL, field_="text_vector"):
    builder = {"model_id": model, "image": image_b64}
    if image_b64 is None:
        builder.pop("image")
    return {"knn": {"field": field_, "k": 10, "num_candidates": 50, "query_vector_builder": {"fuserank_image": builder}}}


def rescored(options: dict, window=10, text_query="a large blue cross above a small white triangle", field_="image_vector"):
    body = knn_text(text_query, field_=field_)
    body["rescore"] = {"window_size": window, "fuserank_itm": options}
    return body


def setup(suite: Suite):
    url = suite.url
    for name, file in (("fuserank-images", "ingest-pipeline.json"), ("fuserank-captions", "caption-ingest-pipeline.json")):
        assert call(url, "PUT", f"/_ingest/pipeline/{name}", (MAPPINGS / file).read_text()).status == 200
    for index, file in (("images", "image-index.json"), ("captions", "caption-index.json"), ("blobs", "image-index.json")):
        call(url, "DELETE", f"/{index}")
        response = call(url, "PUT", f"/{index}", (MAPPINGS / file).read_text())
        assert response.status == 200, response.body
    lines = []
    for i in range(4):
        lines += [json.dumps({"index": {"_id": f"{i:02d}"}}), json.dumps({"image": b64(reference_image(i))})]
    response = call(url, "POST", "/images/_bulk?pipeline=fuserank-images&refresh=true", ndjson="\n".join(lines) + "\n")
    assert response.status == 200 and not response.body.get("errors"), response.body
    lines = []
    for i, caption in enumerate(reference_captions()):
        lines += [json.dumps({"index": {"_id": f"{i:02d}"}}), json.dumps({"caption": caption})]
    response = call(url, "POST", "/captions/_bulk?pipeline=fuserank-captions&refresh=true", ndjson="\n".join(lines) + "\n")
    assert response.status == 200 and not response.body.get("errors"), response.body


def ingest_cases(suite: Suite):
    """One bulk request of good and bad documents: each bad one fails alone, naming its field and value."""
    png_ok = reference_image(1)
    bad_images = [
        ("not base64", "not*base64!", 400, ["[image]", "base64"]),
        ("base64 of text", b64(b"hello, not an image"), 400, ["[image]", "not recognised", "68 65 6c 6c 6f"]),
        ("empty string", "", 400, ["[image]", "empty"]),
        ("truncated PNG", b64(png_ok[: len(png_ok) // 2]), 400, ["[image]", "png"]),
        ("PNG header bomb 30000x30000", b64(png(30000, 30000)), 400, ["[image]", "30000 x 30000"]),
        ("GIF header bomb 60000x60000", b64(gif_header_bomb()), 400, ["[image]", "60000"]),
        ("PNG of zero width", b64(png(0, 10)), 400, ["[image]"]),
        ("number instead of base64", 12345, 400, ["[image]", "Integer"]),
        ("array instead of base64", [b64(png_ok)], 400, ["[image]", "List"]),
        ("object instead of base64", {"data": b64(png_ok)}, 400, ["[image]", "Map"]),
        ("JPEG signature then garbage", b64(b"\xff\xd8\xff\xe0" + b"\x00" * 64), 400, ["[image]", "jpeg"]),
        ("WebP truncated", b64(b"RIFF\xff\xff\x00\x00WEBPVP8L" + b"\x00" * 20), 400, ["[image]", "truncated"]),
        ("null image", None, 400, ["[image]", "null"]),
    ]
    bad_captions = [
        ("empty caption", "", 400, ["[caption]", "empty"]),
        ("blank caption", "   \t ", 400, ["[caption]"]),
        ("caption as number", 42, 400, ["[caption]", "Integer"]),
        ("caption as list", ["a", "b"], 400, ["[caption]", "List"]),
        ("caption of only punctuation", "!!! ??? ...", 400, ["[caption]"]),
    ]
    for index, pipeline, field_, good, bad in (
        ("images", "fuserank-images", "image", b64(png_ok), bad_images),
        ("captions", "fuserank-captions", "caption", "a small red circle", bad_captions),
    ):
        lines = []
        lines += [json.dumps({"index": {"_id": "good-before"}}), json.dumps({field_: good})]
        for i, (_, value, _, _) in enumerate(bad):
            lines += [json.dumps({"index": {"_id": f"bad-{i}"}}), json.dumps({field_: value})]
        lines += [json.dumps({"index": {"_id": "good-after"}}), json.dumps({field_: good})]
        response = call(suite.url, "POST", f"/{index}/_bulk?pipeline={pipeline}&refresh=true", ndjson="\n".join(lines) + "\n")
        items = {item["index"]["_id"]: item["index"] for item in response.body.get("items", [])}
        for i, (name, _, status, needles) in enumerate(bad):
            item = items.get(f"bad-{i}", {})
            error = item.get("error", {})
            reason = f"{error.get('type')}: {error.get('reason')}"
            suite.expect("ingest", f"{index}: {name}", Response(item.get("status", 0), {}, {}), status, *needles, reason=reason)
        good_ok = all(items.get(g, {}).get("status") in (200, 201) for g in ("good-before", "good-after"))
        suite.check("ingest", f"{index}: the good documents of the same bulk are indexed", good_ok,
                    json.dumps({g: items.get(g, {}).get("status") for g in ("good-before", "good-after")}))
        for g in ("good-before", "good-after"):
            call(suite.url, "DELETE", f"/{index}/_doc/{g}?refresh=true")


def pipeline_cases(suite: Suite):
    def put(name, processor):
        return call(suite.url, "PUT", f"/_ingest/pipeline/{name}", {"processors": [{"fuserank": processor}]})
    cases = [
        ("unknown option", {"model_id": MODEL, "image_field": "image", "colour": "red"}, ["colour"]),
        ("model_id with bad characters", {"model_id": "../../etc", "image_field": "image"}, ["model_id", "../../etc"]),
        ("both image_field and text_field", {"model_id": MODEL, "image_field": "a", "text_field": "b"}, ["image_field", "text_field"]),
        ("neither image_field nor text_field", {"model_id": MODEL}, ["image_field"]),
        ("unknown codec", {"model_id": MODEL, "image_field": "image", "codec": "int3"}, ["codec", "int3"]),
        ("vector_field equals features_field", {"model_id": MODEL, "image_field": "image", "vector_field": "v",
                                                "features_field": "v"}, ["vector_field", "[v]"]),
        ("missing model_id", {"image_field": "image"}, ["model_id"]),
    ]
    for name, processor, needles in cases:
        suite.expect("pipeline", name, put("hostile-pipeline", processor), 400, *needles)
    # an unknown model is only known when a document arrives: that document fails, naming the model
    assert put("hostile-unknown-model", {"model_id": "no-such-model", "image_field": "image"}).status == 200
    response = call(suite.url, "POST", "/images/_doc?pipeline=hostile-unknown-model", {"image": b64(reference_image(0))})
    suite.expect("ingest", "unknown model in a pipeline", response, 404, "no-such-model")
    for name in ("hostile-pipeline", "hostile-unknown-model"):
        call(suite.url, "DELETE", f"/_ingest/pipeline/{name}")


def query_vector_cases(suite: Suite):
    search = lambda index, body: call(suite.url, "POST", f"/{index}/_search", body)  # noqa: E731
    text_cases = [
        ("empty text", knn_text(""), 400, ["[text]", "[]"]),
        ("blank text", knn_text("   "), 400, ["[text]", "[   ]"]),
        ("missing text", knn_text(None), 400, ["[text]"]),
        ("missing model_id", knn_text("a red circle", model=None), 400, ["[model_id]"]),
        ("model_id with bad characters", knn_text("a red circle", model="Bad Model!"), 400, ["model_id", "[Bad Model!]"]),
        ("unknown model", knn_text("a red circle", model="no-such-model"), 404, ["no-such-model"]),
        ("text as a number", knn_text(17), 400, ["text", "VALUE_NUMBER"]),
        ("text as an object", knn_text({"a": 1}), 400, ["text", "START_OBJECT"]),
        ("unknown field", {"knn": {"field": "image_vector", "k": 5, "num_candidates": 10, "query_vector_builder": {
            "fuserank_text": {"model_id": MODEL, "query": "x"}}}}, 400, ["[query]", "valid fields"]),
        ("a text of only unknown characters", knn_text("\u2603\u2603\u2603"), 200, []),
        ("a text 100,000 characters long", knn_text("circle " * 14286), 400, ["[text]", "[100002]"]),
        ("knn on a field that is not a vector", knn_text("a red circle", field_="image"), 400, ["dense_vector"]),
    ]
    for name, body, status, needles in text_cases:
        suite.expect("fuserank_text", name, search("images", body), status, *needles)
    png_ok = reference_image(2)
    image_cases = [
        ("empty image", knn_image(""), 400, ["[image]"]),
        ("not base64", knn_image("%%%"), 400, ["[image]", "base64"]),
        ("base64 of text", knn_image(b64(b"plain text")), 400, ["[image]", "not recognised"]),
        ("truncated PNG", knn_image(b64(png_ok[:60])), 400, ["[image]", "png"]),
        ("PNG header bomb", knn_image(b64(png(40000, 40000))), 400, ["[image]", "40000 x 40000"]),
        ("missing image", knn_image(None), 400, ["[image]"]),
        ("unknown model", {"knn": {"field": "text_vector", "k": 5, "num_candidates": 10, "query_vector_builder": {
            "fuserank_image": {"model_id": "nope", "image": b64(png_ok)}}}}, 404, ["nope"]),
        ("image as a number", knn_image(5), 400, ["image", "VALUE_NUMBER"]),
    ]
    for name, body, status, needles in image_cases:
        suite.expect("fuserank_image", name, search("captions", body), status, *needles)


def rescorer_cases(suite: Suite):
    search = lambda index, body: call(suite.url, "POST", f"/{index}/_search", body)  # noqa: E731
    text = "a large blue cross above a small white triangle"
    base = {"model_id": MODEL, "text": text}
    cases = [
        ("window_size 0", "images", rescored(base, window=0), 400, ["window_size", "[0]"]),
        ("window_size -3", "images", rescored(base, window=-3), 400, ["window_size", "[-3]"]),
        ("window_size above the maximum", "images", rescored(base, window=100000), 400, ["window_size", "[100000]"]),
        ("neither text nor image", "images", rescored({"model_id": MODEL}), 400, ["[text]", "[image]"]),
        ("both text and image", "images", rescored({**base, "image": b64(reference_image(0))}), 400, ["[text]", "[image]"]),
        ("blank text", "images", rescored({"model_id": MODEL, "text": " "}), 400, ["[text]", "[ ]"]),
        ("image not base64", "captions", rescored({"model_id": MODEL, "image": "@@"}, field_="text_vector"), 400,
         ["[image]", "base64"]),
        ("image not an image", "captions", rescored({"model_id": MODEL, "image": b64(b"GIF89a??")}, field_="text_vector"), 400,
         ["[image]"]),
        ("unknown score_mode", "images", rescored({**base, "score_mode": "best"}), 400, ["score_mode", "[best]"]),
        ("negative itc_weight", "images", rescored({**base, "itc_weight": -1}), 400, ["[itc_weight]", "[-1.0]"]),
        ("query_weight outside blend", "images", rescored({**base, "score_mode": "itm", "query_weight": 2}), 400,
         ["[query_weight]", "[itm]"]),
        ("unmapped features_field", "images", rescored({**base, "features_field": "nothing_here"}), 400,
         ["[features_field]", "[nothing_here]", "unmapped"]),
        ("features_field of the wrong type", "images", rescored({**base, "features_field": "image_vector"}), 400,
         ["[features_field]", "[image_vector]"]),
        ("vector_field of the wrong type", "images", rescored({**base, "vector_field": "image_features"}), 400,
         ["[vector_field]", "[image_features]"]),
        ("missing model_id", "images", rescored({"text": text}), 400, ["[model_id]"]),
        ("unknown model", "images", rescored({"model_id": "ghost", "text": text}), 404, ["ghost"]),
        ("unknown option", "images", rescored({**base, "colour": "red"}), 400, ["[colour]", "valid fields"]),
        ("text query over caption features (wrong modality)", "captions",
         rescored({**base, "features_field": "text_features", "vector_field": "text_vector"}, field_="text_vector"), 400,
         ["[features_field]", "[text_features]"]),
        ("image query over image features (wrong modality)", "images",
         rescored({"model_id": MODEL, "image": b64(reference_image(0)), "features_field": "image_features",
                   "vector_field": "image_vector"}), 400, ["[features_field]", "[image_features]"]),
    ]
    for name, index, body, status, needles in cases:
        suite.expect("fuserank_itm", name, search(index, body), status, *needles)


def stored_blob_cases(suite: Suite, manifest: dict):
    """Corrupt blobs stored next to good documents: the search succeeds and says which it could not score."""
    width = manifest["width"]
    tokens = manifest["image_tokens"]
    url = suite.url
    good = call(url, "POST", "/images/_search", {"size": 4, "_source": False, "docvalue_fields": ["image_vector"],
                                                  "fields": [], "query": {"match_all": {}}})
    # the stored vectors of the good documents, to place the corrupt ones at the top of the kNN window
    ids = [hit["_id"] for hit in good.body["hits"]["hits"]]
    vectors = {}
    for doc_id in ids:
        explain_vector = call(url, "POST", "/images/_search", {"size": 1, "query": {"ids": {"values": [doc_id]}},
                                                                "_source": False, "fields": ["image_vector"]})
        fields_ = explain_vector.body["hits"]["hits"][0].get("fields", {})
        vectors[doc_id] = fields_.get("image_vector")
    good_features = {}
    # copy the good documents (vector and features) into the blobs index by reindexing through the pipeline
    lines = []
    for i in range(4):
        lines += [json.dumps({"index": {"_id": f"good-{i}"}}), json.dumps({"image": b64(reference_image(i))})]
    response = call(url, "POST", "/blobs/_bulk?pipeline=fuserank-images&refresh=true", ndjson="\n".join(lines) + "\n")
    assert not response.body.get("errors"), response.body
    vector = call(url, "POST", "/blobs/_search", {"size": 1, "query": {"ids": {"values": ["good-3"]}}, "_source": False,
                                                   "fields": ["image_vector"]}).body["hits"]["hits"][0]["fields"]["image_vector"]
    finite = [0.01] * (tokens * width)
    rng = random.Random(18)
    corrupt = {
        "bad magic": (blob_header(0, 1, tokens, width, magic=b"XX") + b"\x00" * (4 * tokens * width), "magic"),
        "unknown version": (blob_header(0, 1, tokens, width, version=9) + b"\x00" * (4 * tokens * width), "version"),
        "unknown codec": (blob_header(7, 1, tokens, width) + b"\x00" * (4 * tokens * width), "codec"),
        "width of another model": (fp32_blob([0.01] * (tokens * 64), 1, tokens, 64), f"[1 x {tokens} x 64]"),
        "two feature layers": (fp32_blob(finite + finite, 2, tokens, width), f"[2 x {tokens} x {width}]"),
        "truncated": (fp32_blob(finite, 1, tokens, width)[:-100], "bytes"),
        "65,535 tokens claimed (issue 18 crash)": (blob_header(0, 1, 65535, width) + b"\x00" * 16, "65535"),
        "255 x 65535 x 65535 header (overflow)": (blob_header(0, 255, 65535, 65535), "65535"),
        "caption blob of 11 tokens": (fp32_blob([0.01] * (11 * width), 1, 11, width), "11"),
        "fp32 NaN": (fp32_blob([float("nan")] + finite[1:], 1, tokens, width), "finite"),
        "fp32 infinity": (fp32_blob([float("inf")] + finite[1:], 1, tokens, width), "finite"),
        "int8 infinite scale": (int8_blob([(float("inf"), [1] * width)] + [(0.01, [1] * width)] * (tokens - 1), 1, tokens, width),
                                "finite"),
        "int8 NaN scale": (int8_blob([(float("nan"), [1] * width)] * tokens, 1, tokens, width), "finite"),
        "fp16 huge values (finite in fp16, extreme)": (blob_header(1, 1, tokens, width) + struct.pack("<H", 0x7BFF) * (tokens * width),
                                                       None),
        "empty blob": (b"", "bytes"),
        "header only": (blob_header(0, 1, tokens, width), "bytes"),
        "zero tokens": (blob_header(0, 1, 0, width), "empty"),
    }
    for i in range(6):
        corrupt[f"random bytes #{i}"] = (bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 300))), None)
    lines = []
    for i, (name, (blob, _)) in enumerate(corrupt.items()):
        lines += [json.dumps({"index": {"_id": f"corrupt-{i}"}}), json.dumps({"image_vector": vector, "image_features": b64(blob)})]
    # a multi-valued features field: two blobs in one document
    lines += [json.dumps({"index": {"_id": "multi-valued"}}),
              json.dumps({"image_vector": vector, "image_features": [b64(fp32_blob(finite, 1, tokens, width)),
                                                                      b64(fp32_blob([0.02] * (tokens * width), 1, tokens, width))]})]
    response = call(url, "POST", "/blobs/_bulk?refresh=true", ndjson="\n".join(lines) + "\n")
    assert not response.body.get("errors"), json.dumps(response.body)[:2000]
    # issue 18's first crash: a whole, well-formed int8 blob of 65,535 tokens (12.8 MB), alone in its request
    crash_id = "corrupt-65535-full"
    whole = int8_blob([(0.01, [1] * width)] * 65535, 1, 65535, width)
    response = call(url, "PUT", f"/blobs/_doc/{crash_id}?refresh=true", {"image_vector": vector, "image_features": b64(whole)})
    assert response.status in (200, 201), response.body
    corrupt_ids = {f"corrupt-{i}": (name, needle) for i, (name, (_, needle)) in enumerate(corrupt.items())}
    corrupt_ids[crash_id] = ("65,535 tokens, a whole int8 blob (issue 18 crash)", "65535")

    text = reference_captions()[3]
    body = knn_text(text)
    body["knn"].update({"k": 40, "num_candidates": 100})
    body.update({"size": 40, "explain": True, "rescore": {"window_size": 40, "fuserank_itm": {"model_id": MODEL, "text": text}}})
    response = call(url, "POST", "/blobs/_search", body)
    hits = response.body.get("hits", {}).get("hits", [])
    suite.check("stored blobs", "a search over every corrupt blob succeeds", response.status == 200,
                f"status {response.status} {response.reason() if response.status != 200 else ''}", response.status)
    scores_finite = all(isinstance(h.get("_score"), (int, float)) and math.isfinite(h["_score"]) for h in hits)
    suite.check("stored blobs", "no score is null, NaN or infinite", bool(hits) and scores_finite,
                json.dumps([h.get("_score") for h in hits])[:300])
    suite.check("stored blobs", "the right good document is first", bool(hits) and hits[0]["_id"] == "good-3",
                f"first hit {hits[0]['_id'] if hits else None}")
    warnings = " ".join(v for k, v in response.headers.items() if k.lower() == "warning")
    suite.check("stored blobs", "the response says which documents were not scored", "fuserank_itm" in warnings,
                warnings[:300] or "no Warning header")
    by_id = {h["_id"]: h for h in hits}
    for doc_id, (name, needle) in corrupt_ids.items():
        hit = by_id.get(doc_id)
        explanation = json.dumps(hit.get("_explanation", {})) if hit else ""
        # a random blob may by chance be anything; it must be explained, whatever the reason
        ok = hit is not None and (needle or "").lower() in explanation.lower()
        suite.check("stored blobs", f"{name}: kept its first-stage score, explained", ok,
                    (explanation[:200] if hit else "missing from the hits") + (f" (want [{needle}])" if needle else ""))
    hit = by_id.get("multi-valued")
    explanation = json.dumps(hit.get("_explanation", {})) if hit else ""
    suite.check("stored blobs", "multi-valued features field: kept, explained", hit is not None and "values" in explanation,
                explanation[:200])
    return body


def models_endpoint_cases(suite: Suite):
    response = call(suite.url, "GET", "/_fuserank/models")
    text = json.dumps(response.body)
    suite.check("models", "GET _fuserank/models answers without absolute paths", response.status == 200 and '"/' not in text
                and MODEL in text, text[:300], response.status)
    response = call(suite.url, "GET", "/_fuserank/models/extra/path")
    suite.expect("models", "unknown models sub-path", response, 400 if response.status == 400 else 405, "_fuserank/models")
    response = call(suite.url, "POST", "/images/_search", knn_text("a circle", model="no-such-model-2"))
    suite.expect("models", "unknown model's 404 holds no absolute path", response, 404, "no-such-model-2")
    suite.check("models", "... and no absolute file-system path in the reason", not re.search(r"(^|[\s\[,(])/", response.reason()),
                response.reason()[:300], response.status)


def big_png_queries(suite: Suite):
    """Issue 18's second crash: concurrent 6,300 x 6,300 16-bit RGBA PNG image queries (4 inference threads)."""
    failures = check_concurrent_large_images(suite.url)
    alive = call(suite.url, "GET", "/_cluster/health").status == 200
    suite.check("crash regressions", "4 concurrent 6300x6300 16-bit PNG (and 40 Mpx strip) queries x 3: 200 or 429, "
                "node alive, breaker back to 0", not failures and alive, f"failures={failures} alive={alive}")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def heap_after_gc(url: str, pid: int, jcmd: str, user: str | None, readings: int = 3) -> int:
    """Heap in use right after a full GC (``jcmd GC.run``), the least of ``readings`` readings a second apart.

    A leak is what survives every collection; one reading can also catch what the node allocated
    between the collection and the stats call, and a jcmd that could not attach (a loaded machine)
    runs no collection at all, so its reading is not taken."""
    command = [jcmd, str(pid), "GC.run"]
    if user:
        command = ["runuser", "-u", user, "--"] + command
    used = []
    for attempt in range(readings + 3):
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode == 0 and "Command executed successfully" in result.stdout:
            stats = call(url, "GET", "/_nodes/_local/stats/jvm").body
            used.append(next(iter(stats["nodes"].values()))["jvm"]["mem"]["heap_used_in_bytes"])
            if len(used) == readings:
                break
        time.sleep(1)
    if not used:
        raise RuntimeError(f"jcmd GC.run did not run on pid {pid}: {result.stdout.strip()} {result.stderr.strip()}")
    return min(used)


def class_histogram(pid: int, jcmd: str, user: str | None, lines: int) -> str:
    command = [jcmd, str(pid), "GC.class_histogram"]
    if user:
        command = ["runuser", "-u", user, "--"] + command
    out = subprocess.run(command, capture_output=True, text=True).stdout
    return "\n".join(out.splitlines()[:lines + 3])


def failure_storm(suite: Suite, pid: int, count: int, jcmd: str, user: str | None):
    """count failing requests of every kind above (cheap ones repeated), RSS and heap after GC before and after."""
    png_ok = reference_image(0)
    bodies = [
        ("images", knn_text("")),
        ("images", rescored({"model_id": MODEL, "text": "x"}, window=0)),
        ("captions", knn_image(b64(png_ok[:70]))),
        ("captions", knn_image(b64(png(30000, 30000)))),
        ("images", rescored({"model_id": MODEL, "text": "a circle", "features_field": "nothing"})),
        ("images", knn_text("a circle", model="no-such-model")),
        ("captions", knn_image(b64(b"hello"))),
    ]
    warmup = 500
    for i in range(warmup):
        index, body = bodies[i % len(bodies)]
        call(suite.url, "POST", f"/{index}/_search", body)
    rss_before, heap_before = rss_kib(pid), heap_after_gc(suite.url, pid, jcmd, user)
    failures = collections.Counter()
    started = time.time()

    def one(i):
        index, body = bodies[i % len(bodies)]
        return call(suite.url, "POST", f"/{index}/_search", body).status

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        for status in pool.map(one, range(count)):
            failures[status] += 1
    seconds = time.time() - started
    rss_after, heap_after = rss_kib(pid), heap_after_gc(suite.url, pid, jcmd, user)
    rss_growth_mib = (rss_after - rss_before) / 1024
    heap_growth_mib = (heap_after - heap_before) / 2**20
    detail = (f"{count} failing requests in {seconds:.0f}s, statuses {dict(failures)}; RSS {rss_before / 1024:.0f} -> "
              f"{rss_after / 1024:.0f} MiB ({rss_growth_mib:+.0f}); heap after GC {heap_before / 2**20:.0f} -> "
              f"{heap_after / 2**20:.0f} MiB ({heap_growth_mib:+.0f})")
    ok = 200 not in failures and 500 not in failures and rss_growth_mib < 150 and heap_growth_mib < 50
    if heap_growth_mib >= 50:
        print("the heap grew; the node's largest classes after GC:\n" + class_histogram(pid, jcmd, user, 15), flush=True)
    suite.check("leaks", "10,000 failures: no 2xx/5xx, RSS grows < 150 MiB, heap after GC < 50 MiB", ok, detail)
    return {"requests": count, "seconds": round(seconds, 1), "statuses": {str(k): v for k, v in failures.items()},
            "rss_mib_before": round(rss_before / 1024), "rss_mib_after": round(rss_after / 1024),
            "heap_after_gc_mib_before": round(heap_before / 2**20), "heap_after_gc_mib_after": round(heap_after / 2**20)}


def still_serving(suite: Suite, label: str):
    alive = call(suite.url, "GET", "/_cluster/health").status == 200
    captions = reference_captions()
    body = knn_text(captions[1])
    body["rescore"] = {"window_size": 4, "fuserank_itm": {"model_id": MODEL, "text": captions[1]}}
    response = call(suite.url, "POST", "/images/_search", body)
    hits = response.body.get("hits", {}).get("hits", [])
    suite.check("node", f"{label}: node up, a normal search returns the right first hit",
                alive and response.status == 200 and bool(hits) and hits[0]["_id"] == "01",
                f"alive={alive} status={response.status} first={hits[0]['_id'] if hits else None}")


def summary(suite: Suite) -> dict:
    table = collections.Counter()
    for o in suite.outcomes:
        if o.status >= 500:
            table["5xx"] += 1
        elif o.status == 429:
            table["429"] += 1
        elif 400 <= o.status < 500:
            table["4xx naming the value" if o.ok else "4xx NOT naming the value"] += 1
        else:
            table["2xx (search succeeded as it should)" if o.ok else "2xx where an error was due"] += 1
    return dict(table)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("pid", type=int)
    parser.add_argument("--failures", type=int, default=10_000)
    parser.add_argument("--jcmd", default=str(Path(os.environ.get("JAVA_HOME", "/usr")) / "bin" / "jcmd"))
    parser.add_argument("--node-user", default=os.environ.get("FUSERANK_ES_USER") if os.geteuid() == 0 else None)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--skip-big-png", action="store_true", help="leave out the 6,300 x 6,300 PNG regression (slow)")
    args = parser.parse_args()
    suite = Suite(args.url)
    manifest = json.loads((ROOT / "models" / MODEL / "manifest.json").read_text())
    layout = {"width": manifest["token_features"]["width"], "image_tokens": manifest["token_features"]["image_tokens"]}

    setup(suite)
    ingest_cases(suite)
    pipeline_cases(suite)
    query_vector_cases(suite)
    rescorer_cases(suite)
    stored_blob_cases(suite, layout)
    models_endpoint_cases(suite)
    still_serving(suite, "after the cases")
    if not args.skip_big_png:
        big_png_queries(suite)
        still_serving(suite, "after the big PNG queries")
    storm = failure_storm(suite, args.pid, args.failures, args.jcmd, args.node_user)
    still_serving(suite, "after the failure storm")

    cases = [o for o in suite.outcomes]
    failed = [o for o in cases if not o.ok]
    result = {"cases": len(cases), "failed": len(failed), "by_outcome": summary(suite), "storm": storm,
              "outcomes": [o.__dict__ for o in cases]}
    if args.out:
        args.out.write_text(json.dumps(result, indent=1))
    print(json.dumps({k: result[k] for k in ("cases", "failed", "by_outcome", "storm")}, indent=1))
    for o in failed:
        print(f"FAILED [{o.area}] {o.name}: {o.status} (want {o.expected}) {o.reason}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
