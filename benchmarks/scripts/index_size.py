"""Store bytes per image of each token-feature codec, through a live node with the plugin.

What the rescorer's stored features cost on disk: the split's images are indexed through the
`fuserank` ingest pipeline once per feature codec (fp32, fp16, int8), each into an index with the
image index's vector mapping and a `binary` doc-values features field, and once more with the
features field holding no doc values (the baseline: the vector, the `_source` and Lucene's own
structures, the PNG kept in `_source`). After a force merge to one segment, each index's primary store size per image, and
its difference to the baseline, is what a codec costs right after indexing, and `_disk_usage` splits
it into the features' doc values (the lasting cost, after Lucene's compression, unlike the raw blob
sizes that CodecErrorReport prints) and `_recovery_source` (Elasticsearch's copy of the indexed
source, features included, until the retention lease expires and a merge prunes it). Writes results.json and results.md to --out.

Standard library only. benchmarks/bin/index-size starts a node and runs it (docs/benchmarks.md):
    python3 index_size.py --url http://127.0.0.1:9280 --ann work/data/scenes/test.json \
        --image-root work/data/scenes --out benchmarks/results/index-size [--max-images N]
"""

from __future__ import annotations

import argparse
import base64
import datetime
import json
import time
import urllib.error
import urllib.request
from pathlib import Path

CODECS = ("fp32", "fp16", "int8")
MAPPING = Path(__file__).resolve().parents[2] / "example-queries" / "mappings" / "image-index.json"


def call(url: str, method: str, path: str, body=None, ndjson: str | None = None) -> dict:
    data = ndjson.encode() if ndjson is not None else (json.dumps(body).encode() if body is not None else None)
    headers = {"Content-Type": "application/x-ndjson" if ndjson is not None else "application/json"}
    request = urllib.request.Request(url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            return json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as e:
        raise RuntimeError(f"{method} {path} -> {e.code}: {e.read()[:500]!r}") from e


def mapping(manifest: dict, with_features: bool) -> dict:
    """The documented image index (example-queries/mappings/image-index.json) sized from the manifest."""
    body = json.loads(MAPPING.read_text())
    properties = body["mappings"]["properties"]
    properties["image_vector"].update(dims=manifest["embedding"]["dim"], similarity=manifest["embedding"]["similarity"])
    # The baseline keeps the field but neither doc values nor _source hold it: it costs nothing.
    properties["image_features"]["doc_values"] = with_features
    body["settings"] = {"number_of_shards": 1, "number_of_replicas": 0}
    return body


def index_split(url: str, name: str, model_id: str, codec: str, manifest: dict, with_features: bool,
                entries, root: Path) -> float:
    call(url, "PUT", f"/_ingest/pipeline/{name}",
         {"processors": [{"fuserank": {"model_id": model_id, "image_field": "image", "codec": codec}}]})
    call(url, "DELETE", f"/{name}?ignore_unavailable=true")
    call(url, "PUT", f"/{name}", mapping(manifest, with_features))
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
    call(url, "POST", f"/{name}/_refresh")
    return elapsed


def store_bytes(url: str, name: str) -> int:
    return call(url, "GET", f"/{name}/_stats/store")["_all"]["primaries"]["store"]["size_in_bytes"]


def field_bytes(url: str, name: str) -> dict:
    """Bytes on disk per field (the `_disk_usage` API): the features' doc values and `_recovery_source`."""
    fields = call(url, "POST", f"/{name}/_disk_usage?run_expensive_tasks=true")[name]["fields"]
    return {field: usage["total_in_bytes"] for field, usage in fields.items()}


def table(figures: dict) -> str:
    lines = [f"# Index size per codec: {figures['dataset']}, {figures['images']} images, model {figures['model']}", "",
             f"{figures['date']}; one shard, one segment after a force merge; int8_hnsw vectors (m 16); "
             "the documented mapping (example-queries/mappings/image-index.json: `_source` keeps the PNG the pipeline "
             "encoded, not the features). Written by benchmarks/bin/index-size.", "",
             "| index | store B/image | features doc values | `_recovery_source` | ingest images/s |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for name, f in figures["sizes"].items():
        cells = [f.get(key) for key in ("features_doc_values_bytes_per_image", "recovery_source_bytes_per_image")]
        lines.append(f"| {name} | {f['store_bytes_per_image']:.0f} | "
                     + " | ".join("-" if c is None else f"{c:.0f}" for c in cells) + f" | {f['images_per_s']:.1f} |")
    lines += ["", "The features doc values are the lasting cost. `_recovery_source` is Elasticsearch's copy of the "
              "whole indexed source (the features' base64 too, though `_source` excludes them) kept for peer "
              "recovery until the shard's retention lease expires (`index.soft_deletes.retention_lease.period`, "
              "12 h) and a merge prunes it: a freshly indexed index holds both. The baseline's `_recovery_source` holds "
              "int8 features as well (the pipeline writes them; only its mapping drops their doc values), so "
              "results.json's `features_bytes_per_image` (store over the baseline) equals the doc values for int8 only."]
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", default="http://127.0.0.1:9280")
    p.add_argument("--ann", type=Path, required=True)
    p.add_argument("--image-root", type=Path, required=True)
    p.add_argument("--model", type=Path, required=True, help="the bundle the node serves (its name is the model id)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--max-images", type=int, default=0, help="only the first N images (0: all)")
    args = p.parse_args()
    entries = json.loads(args.ann.read_text())
    if args.max_images > 0:
        entries = entries[:args.max_images]
    manifest = json.loads((args.model / "manifest.json").read_text())
    model_id = args.model.resolve().name

    figures = {"dataset": args.ann.name, "images": len(entries), "model": model_id,
               "date": datetime.date.today().isoformat(), "sizes": {}}
    seconds = index_split(args.url, "fr-size-none", model_id, "int8", manifest, False, entries, args.image_root)
    base_bytes = store_bytes(args.url, "fr-size-none")
    figures["sizes"]["no features"] = {"store_bytes_per_image": base_bytes / len(entries), "images_per_s": len(entries) / seconds}
    for codec in CODECS:
        name = f"fr-size-{codec}"
        seconds = index_split(args.url, name, model_id, codec, manifest, True, entries, args.image_root)
        size = store_bytes(args.url, name)
        fields = field_bytes(args.url, name)
        figures["sizes"][codec] = {"store_bytes_per_image": size / len(entries),
                                   "features_bytes_per_image": (size - base_bytes) / len(entries),
                                   "features_doc_values_bytes_per_image": fields.get("image_features", 0) / len(entries),
                                   "recovery_source_bytes_per_image": fields.get("_recovery_source", 0) / len(entries),
                                   "images_per_s": len(entries) / seconds}
        call(args.url, "DELETE", f"/{name}")
    call(args.url, "DELETE", "/fr-size-none")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(figures, indent=1) + "\n")
    (args.out / "results.md").write_text(table(figures))
    print(table(figures))


if __name__ == "__main__":
    main()
