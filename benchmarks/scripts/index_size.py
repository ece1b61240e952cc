"""Latency, recall@1 and index size of the plugin on one live node (issue 5's figures).

Indexes a Karpathy-format split's images through the `fuserank` ingest pipeline (once per feature
codec, plus once without features as the size baseline), then runs caption queries as knn alone
and as knn + fuserank_itm at several windows, sequentially from one client, and prints p50/p95
latency (client-side wall time), IR recall@1, and the store bytes per image each codec costs.

Standard library only. Usage (the node must run the plugin; scripts/es-node starts one):
    python3 plugin_figures.py --url http://127.0.0.1:9200 --ann work/data/scenes/test.json \
        --image-root work/data/scenes [--queries 1000] [--windows 16 32 64]
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import time
import urllib.error
import urllib.request
from pathlib import Path

MODEL = "fuserank-small"


def call(url: str, method: str, path: str, body=None, ndjson: str | None = None) -> dict:
    data = ndjson.encode() if ndjson is not None else (json.dumps(body).encode() if body is not None else None)
    headers = {"Content-Type": "application/x-ndjson" if ndjson is not None else "application/json"}
    request = urllib.request.Request(url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            return json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as e:
        raise RuntimeError(f"{method} {path} -> {e.code}: {e.read()[:500]!r}") from e


def mapping(with_features: bool) -> dict:
    properties = {
        "image": {"type": "binary"},
        "image_vector": {"type": "dense_vector", "dims": 128, "similarity": "dot_product",
                         "index_options": {"type": "int8_hnsw", "m": 16, "ef_construction": 100}},
    }
    # The baseline keeps the field but neither doc values nor _source hold it: it costs nothing.
    properties["image_features"] = {"type": "binary", "doc_values": with_features}
    return {"settings": {"number_of_shards": 1, "number_of_replicas": 0},
            "mappings": {"_source": {"excludes": ["image_features"]}, "properties": properties}}


def pipeline(codec: str) -> dict:
    return {"processors": [{"fuserank": {"model_id": MODEL, "image_field": "image", "codec": codec}}]}


def index_split(url: str, name: str, codec: str, with_features: bool, entries, root: Path) -> float:
    call(url, "PUT", f"/_ingest/pipeline/{name}", pipeline(codec))
    call(url, "DELETE", f"/{name}?ignore_unavailable=true")
    call(url, "PUT", f"/{name}", mapping(with_features))
    started = time.perf_counter()
    for start in range(0, len(entries), 100):
        lines = []
        for i in range(start, min(len(entries), start + 100)):
            image = base64.b64encode((root / entries[i]["image"]).read_bytes()).decode()
            lines += [json.dumps({"index": {"_id": str(i)}}), json.dumps({"image": image})]
        response = call(url, "POST", f"/{name}/_bulk?pipeline={name}", ndjson="\n".join(lines) + "\n")
        if response.get("errors"):
            failed = [item for item in response["items"] if "error" in item["index"]]
            raise RuntimeError(f"{len(failed)} documents failed, first: {failed[0]}")
    elapsed = time.perf_counter() - started
    call(url, "POST", f"/{name}/_refresh")
    call(url, "POST", f"/{name}/_forcemerge?max_num_segments=1")
    return elapsed


def store_bytes(url: str, name: str) -> int:
    return call(url, "GET", f"/{name}/_stats/store")["_all"]["primaries"]["store"]["size_in_bytes"]


def query_body(text: str, window: int | None) -> dict:
    k = max(16, window or 0)
    body = {"size": 1, "_source": False,
            "knn": {"field": "image_vector", "k": k, "num_candidates": max(64, 2 * k),
                    "query_vector_builder": {"fuserank_text": {"model_id": MODEL, "text": text}}}}
    if window:
        body["rescore"] = {"window_size": window, "fuserank_itm": {"model_id": MODEL, "text": text}}
    return body


def run_queries(url: str, index: str, captions, window: int | None) -> dict:
    latencies, hits = [], 0
    for text, image in captions:
        started = time.perf_counter()
        response = call(url, "POST", f"/{index}/_search", query_body(text, window))
        latencies.append((time.perf_counter() - started) * 1000)
        top = response["hits"]["hits"]
        hits += bool(top) and top[0]["_id"] == str(image)
    latencies.sort()
    return {"p50_ms": statistics.median(latencies), "p95_ms": latencies[int(0.95 * (len(latencies) - 1))],
            "recall_at_1": 100.0 * hits / len(captions)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", default="http://127.0.0.1:9200")
    p.add_argument("--ann", type=Path, required=True)
    p.add_argument("--image-root", type=Path, required=True)
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--windows", type=int, nargs="+", default=[16, 32, 64])
    p.add_argument("--json", type=Path, help="also write the figures here")
    args = p.parse_args()
    entries = json.loads(args.ann.read_text())
    captions = [(c, i) for i, e in enumerate(entries) for c in e["caption"]]
    captions = captions[:: max(1, len(captions) // args.queries)][: args.queries]

    figures = {"images": len(entries), "queries": len(captions), "sizes": {}, "search": {}}
    baseline = "fr-bench-none"
    seconds = index_split(args.url, baseline, "int8", False, entries, args.image_root)
    base_bytes = store_bytes(args.url, baseline)
    figures["sizes"]["no features"] = {"store_bytes_per_image": base_bytes / len(entries), "index_s": seconds}
    for codec in ("fp32", "fp16", "int8"):
        name = f"fr-bench-{codec}"
        seconds = index_split(args.url, name, codec, True, entries, args.image_root)
        size = store_bytes(args.url, name)
        figures["sizes"][codec] = {"store_bytes_per_image": size / len(entries),
                                   "features_bytes_per_image": (size - base_bytes) / len(entries),
                                   "index_s": seconds, "images_per_s": len(entries) / seconds}
    index = "fr-bench-int8"
    run_queries(args.url, index, captions[:20], None)  # warm-up: model load, JIT, caches
    run_queries(args.url, index, captions[:20], args.windows[0])
    figures["search"]["knn"] = run_queries(args.url, index, captions, None)
    for window in args.windows:
        figures["search"][f"knn + fuserank_itm window {window}"] = run_queries(args.url, index, captions, window)

    print(f"{len(entries)} images, {len(captions)} caption queries, one client, sequential, int8 features")
    print(f"{'mode':32} {'p50 ms':>8} {'p95 ms':>8} {'R@1':>7}")
    for mode, f in figures["search"].items():
        print(f"{mode:32} {f['p50_ms']:8.1f} {f['p95_ms']:8.1f} {f['recall_at_1']:7.2f}")
    print(f"\n{'index':12} {'store B/image':>14} {'features B/image':>17} {'indexing images/s':>18}")
    for name, f in figures["sizes"].items():
        print(f"{name:12} {f['store_bytes_per_image']:14.0f} {f.get('features_bytes_per_image', 0):17.0f} "
              f"{len(entries) / f['index_s']:18.1f}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n")


if __name__ == "__main__":
    main()
