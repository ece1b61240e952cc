"""The bridge-vs-plain table of scripts/compare-bridge: OUT/{plain,bridge}/results.json (the recall
harness's) and each bundle's manifest, as Markdown on stdout.

    python benchmarks/scripts/bridge_table.py benchmarks/results/bridge-vs-plain
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

VARIANTS = ("plain", "bridge")
MODES = {"knn_itc": "ITC (kNN)", "knn_itm": "ITM", "knn_itm_itc": "ITM + W x ITC"}


def rows(results: dict, record: str) -> list[dict]:
    return [r for r in results["rows"] if r["record"] == record]


def table(out: Path) -> str:
    results = {v: json.loads((out / v / "results.json").read_text(encoding="utf-8")) for v in VARIANTS}
    lines = ["| variant | mode | k | TR R@1 / 5 / 10 | IR R@1 / 5 / 10 | ms per query (p50, 1 client) |",
             "|---|---|---|---|---|---|"]
    for variant in VARIANTS:
        latency = {(r["mode"], r["k"]): r["latency_p50_ms"] for r in rows(results[variant], "latency") if r["concurrency"] == 1}
        for r in rows(results[variant], "recall"):
            if r["mode"] not in MODES:
                continue
            k = r["k"] or "-"
            ms = latency.get((r["mode"], r["k"]))
            lines.append(f"| {variant} | {MODES[r['mode']]} | {k} | {r['tr_r1']} / {r['tr_r5']} / {r['tr_r10']} | "
                         f"{r['ir_r1']} / {r['ir_r5']} / {r['ir_r10']} | {'' if ms is None else ms} |")
    lines += ["", "| variant | ITC weight W (chosen on val) | fusion FLOPs per pair | bytes per image (int8) |", "|---|---|---|---|"]
    for variant in VARIANTS:
        r = results[variant]
        manifest = json.loads((out / variant / "manifest.json").read_text(encoding="utf-8"))
        lines.append(f"| {variant} | {r['itc_weight']} | {r['fusion_flops_per_pair']:,} | {manifest['bytes_per_image']['int8']:,} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(table(Path(sys.argv[1])), end="")
