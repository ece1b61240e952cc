"""Checks a recall harness run (benchmarks/bin/recall-benchmark) end to end: every mode and
window produced a recall row and latency rows at every concurrency, the figures are in range,
exact ITC ranks well on the synthetic scenes, the engine's knn is close to exact ITC, the
client-side rerank agrees with the plugin's, and the plots exist. Stdlib only.

    python3 benchmarks/scripts/check_recall_results.py OUT_DIR K[,K...] C[,C...]
"""
import json
import pathlib
import struct
import sys


def fail(message):
    sys.exit(f"check_recall_results: {message}")


def main(out_dir, ks, concurrency):
    out = pathlib.Path(out_dir)
    results = json.loads((out / "results.json").read_text())
    rows = results["rows"]
    recall = {(r["mode"], r["k"]): r for r in rows if r["record"] == "recall"}
    expected = [("exact_itc", 0), ("knn_itc", 0)] + [(m, k) for m in ("knn_itm", "knn_itm_itc") for k in ks]
    for key in expected:
        if key not in recall:
            fail(f"no recall row for mode {key[0]} k={key[1]}; rows: {sorted(recall)}")
        for field in ("tr_r1", "tr_r5", "tr_r10", "ir_r1", "ir_r5", "ir_r10"):
            value = recall[key][field]
            if not 0 <= value <= 100:
                fail(f"{key} {field} = {value} is not a percentage")
        r = recall[key]
        if not (r["ir_r1"] <= r["ir_r5"] <= r["ir_r10"] and r["tr_r1"] <= r["tr_r5"] <= r["tr_r10"]):
            fail(f"{key}: recall must not fall as K grows: {r}")
    if recall[("exact_itc", 0)]["ir_r10"] < 90:
        fail(f"exact ITC IR R@10 is {recall[('exact_itc', 0)]['ir_r10']}: the shipped model ranks scenes far better")
    if abs(recall[("knn_itc", 0)]["ir_r1"] - recall[("exact_itc", 0)]["ir_r1"]) > 5:
        fail(f"knn IR R@1 {recall[('knn_itc', 0)]['ir_r1']} is far from exact ITC's {recall[('exact_itc', 0)]['ir_r1']}")
    ann = [r for r in rows if r["record"] == "ann"]
    if not ann or not 0.9 <= ann[0]["recall_at_10"] <= 1.0:
        fail(f"ANN loss row missing or out of range: {ann}")
    latency = {(r["mode"], r["k"], r["concurrency"]): r for r in rows if r["record"] == "latency"}
    for mode, k in [("knn_itc", 0)] + [(m, k) for m in ("knn_itm", "knn_itm_itc", "client_rerank") for k in ks]:
        for c in concurrency:
            row = latency.get((mode, k, c))
            if row is None:
                fail(f"no latency row for {mode} k={k} at concurrency {c}")
            if not 0 < row["latency_p50_ms"] <= row["latency_p95_ms"] <= row["latency_p99_ms"] or row["qps"] <= 0:
                fail(f"latency row out of order: {row}")
    if 1 in concurrency:
        for k in ks:
            if "flop_floor_multiple" not in latency[("knn_itm", k, 1)]:
                fail(f"knn_itm k={k} at concurrency 1 has no FLOP-floor multiple")
    for agreement in results["client_rerank_top1_agreement"]:
        if agreement["share"] < 0.95:
            fail(f"the client-side rerank's top-1 matches the plugin's for only {agreement['share']:.0%} at k={agreement['k']}")
    for png in ("recall-vs-k.png", "latency-vs-k.png"):
        data = (out / png).read_bytes()
        if data[:8] != b"\x89PNG\r\n\x1a\n":
            fail(f"{png} is not a PNG")
        width, height = struct.unpack(">II", data[16:24])
        if width < 300 or height < 200:
            fail(f"{png} is {width}x{height}")
    markdown = (out / "results.md").read_text()
    if "| knn_itm |" not in markdown or "× FLOP floor" not in markdown:
        fail("results.md lacks the recall or latency table")
    print(f"check_recall_results: {len(rows)} rows, {len(expected)} recall settings, plots and tables ok")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(sys.argv[1], [int(k) for k in sys.argv[2].split(",")], [int(c) for c in sys.argv[3].split(",")])
