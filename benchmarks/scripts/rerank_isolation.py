#!/usr/bin/env python3
"""Does rerank load starve unrelated searches? One run against a live node (see benchmarks/bin/rerank-isolation).

`run`: a probe client sends a plain `match` query to a small text index every --probe-interval-ms,
first alone for --alone-s seconds, then while --clients threads each send knn + `fuserank_itm`
(window --window) text-to-image searches back to back for --duration-s seconds. A client that gets a
429 waits --backoff-ms before its next search, as a bulk client would. Prints and writes one JSON
object: the probe's latency percentiles alone and under load, and the reranks' successes per
second, latency percentiles, 429s and other errors.

`prepare-text`: (re)creates the probe's text index, one document per caption.

`report`: a markdown table of several `run` outputs (before/after), for results.md.

Standard library only, so it runs with any python3.
"""
import argparse
import http.client
import json
import random
import sys
import threading
import time
import urllib.parse


def percentile(values, p):
    """Nearest-rank percentile (the same rule as the plugin's ModelStats); None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-p * len(ordered) // 100))
    return ordered[rank - 1]


def summary(millis):
    return {"count": len(millis), "p50_ms": percentile(millis, 50), "p95_ms": percentile(millis, 95),
            "p99_ms": percentile(millis, 99)}


class Node:
    """One keep-alive HTTP connection per thread."""

    def __init__(self, url):
        parts = urllib.parse.urlsplit(url)
        self.host, self.port = parts.hostname, parts.port or 9200

    def connect(self):
        return http.client.HTTPConnection(self.host, self.port, timeout=60)


def post(connection, path, body, method="POST"):
    """(status, parsed body, milliseconds)."""
    data = json.dumps(body).encode()
    start = time.perf_counter()
    connection.request(method, path, body=data, headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    payload = response.read()
    elapsed = (time.perf_counter() - start) * 1000
    return response.status, json.loads(payload) if payload else None, elapsed


def rerank_body(caption, model_id, window):
    return {
        "size": 10,
        "knn": {"field": "image_vector", "k": window, "num_candidates": 2 * window,
                "query_vector_builder": {"fuserank_text": {"model_id": model_id, "text": caption}}},
        "rescore": {"window_size": window, "fuserank_itm": {"model_id": model_id, "text": caption}},
        "_source": False,
    }


def probe_loop(node, index, words, interval_s, stop, out):
    connection = node.connect()
    rng = random.Random(1)
    next_at = time.perf_counter()
    while not stop.is_set():
        query = " ".join(rng.sample(words, 2))
        status, _, millis = post(connection, "/" + index + "/_search", {"size": 10, "query": {"match": {"text": query}}})
        out.append(millis if status == 200 else None)
        next_at += interval_s
        time.sleep(max(0.0, next_at - time.perf_counter()))


def rerank_loop(node, index, captions, model_id, window, backoff_s, seed, stop, out):
    connection = node.connect()
    rng = random.Random(seed)
    while not stop.is_set():
        status, body, millis = post(connection, "/" + index + "/_search", rerank_body(rng.choice(captions), model_id, window))
        if status == 200 and body["_shards"]["failed"] == 0:
            out["ok"].append(millis)
        elif status == 429:
            out["rejected"] += 1
            time.sleep(backoff_s)
        else:
            out["errors"] += 1
            if len(out["error_samples"]) < 3:
                out["error_samples"].append({"status": status, "body": json.dumps(body)[:400]})


def probe_phase(node, args, words, seconds):
    """The probe's latencies (None for a failed probe) over `seconds`."""
    probes, stop = [], threading.Event()
    thread = threading.Thread(target=probe_loop, args=(node, args.text_index, words, args.probe_interval_ms / 1000, stop, probes))
    thread.start()
    time.sleep(seconds)
    stop.set()
    thread.join()
    return probes


def load_average():
    with open("/proc/loadavg") as f:
        return f.read().split()[:3]


def prepare_text(args):
    """(Re)creates the probe's text index: one document per caption of --ann."""
    captions = [c for entry in json.load(open(args.ann)) for c in entry["caption"]]
    connection = Node(args.url).connect()
    connection.request("DELETE", "/" + args.text_index)
    connection.getresponse().read()
    status, body, _ = post(connection, "/" + args.text_index,
                           {"settings": {"number_of_shards": 1, "number_of_replicas": 0},
                            "mappings": {"properties": {"text": {"type": "text"}}}}, method="PUT")
    if status != 200:
        sys.exit("cannot create [%s]: %s" % (args.text_index, json.dumps(body)[:400]))
    lines = "".join(json.dumps({"index": {"_id": str(i)}}) + "\n" + json.dumps({"text": c}) + "\n" for i, c in enumerate(captions))
    connection.request("POST", "/" + args.text_index + "/_bulk?refresh=true", body=lines.encode(),
                       headers={"Content-Type": "application/x-ndjson"})
    response = connection.getresponse()
    result = json.loads(response.read())
    if response.status != 200 or result["errors"]:
        sys.exit("bulk into [%s] failed" % args.text_index)
    print("indexed %d captions into [%s]" % (len(captions), args.text_index), file=sys.stderr)


def run(args):
    node = Node(args.url)
    captions = [c for entry in json.load(open(args.ann)) for c in entry["caption"]]
    words = sorted({w for c in captions for w in c.replace(",", " ").split() if len(w) > 2})

    # Warm up: the model loads and the caches fill before anything is measured.
    connection = node.connect()
    for caption in captions[:5]:
        status, body, _ = post(connection, "/" + args.image_index + "/_search", rerank_body(caption, args.model_id, args.window))
        if status != 200:
            sys.exit("warm-up rerank failed with [%d]: %s" % (status, json.dumps(body)[:400]))

    load_before = load_average()
    probes_alone = probe_phase(node, args, words, args.alone_s)

    stop_load = threading.Event()
    rerank = [{"ok": [], "rejected": 0, "errors": 0, "error_samples": []} for _ in range(args.clients)]
    clients = [threading.Thread(target=rerank_loop, args=(node, args.image_index, captions, args.model_id, args.window,
                                                          args.backoff_ms / 1000, i, stop_load, rerank[i]))
               for i in range(args.clients)]
    load_start = time.perf_counter()
    for c in clients:
        c.start()
    time.sleep(args.ramp_s)
    probes_loaded = probe_phase(node, args, words, args.duration_s)
    stop_load.set()
    for c in clients:
        c.join()
    load_seconds = time.perf_counter() - load_start
    load_after = load_average()

    ok = [m for r in rerank for m in r["ok"]]
    result = {
        "label": args.label,
        "settings": {"clients": args.clients, "window": args.window, "duration_s": args.duration_s, "ramp_s": args.ramp_s,
                     "alone_s": args.alone_s, "probe_interval_ms": args.probe_interval_ms, "backoff_ms": args.backoff_ms,
                     "image_index": args.image_index, "text_index": args.text_index, "model_id": args.model_id},
        "probe_alone": summary([m for m in probes_alone if m is not None]) | {"errors": probes_alone.count(None)},
        "probe_under_load": summary([m for m in probes_loaded if m is not None]) | {"errors": probes_loaded.count(None)},
        "rerank": summary(ok) | {
            "reranks_per_s": round(len(ok) / load_seconds, 2),
            "rejected_429": sum(r["rejected"] for r in rerank),
            "other_errors": sum(r["errors"] for r in rerank),
            "error_samples": [s for r in rerank for s in r["error_samples"]][:3],
            "seconds": round(load_seconds, 1),
        },
        "load_average_1_5_15": {"before": load_before, "after": load_after},
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


def fmt(value):
    return "-" if value is None else ("%.1f" % value)


def report(paths):
    runs = [json.load(open(p)) for p in paths]
    lines = ["| run | probe alone p50 / p95 / p99 ms | probe under load p50 / p95 / p99 ms | reranks/s | rerank p50 / p95 ms "
             "| 429s | other errors |", "|---|---|---|---|---|---|---|"]
    for r in runs:
        a, u, k = r["probe_alone"], r["probe_under_load"], r["rerank"]
        lines.append("| %s | %s / %s / %s | %s / %s / %s | %.2f | %s / %s | %d | %d |" % (
            r["label"], fmt(a["p50_ms"]), fmt(a["p95_ms"]), fmt(a["p99_ms"]), fmt(u["p50_ms"]), fmt(u["p95_ms"]),
            fmt(u["p99_ms"]), k["reranks_per_s"], fmt(k["p50_ms"]), fmt(k["p95_ms"]), k["rejected_429"], k["other_errors"]))
    print("\n".join(lines))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    r = commands.add_parser("run", help="one measurement against a live node")
    r.add_argument("--url", default="http://127.0.0.1:9200")
    r.add_argument("--label", required=True, help="the run's name in the outputs (e.g. before, after)")
    r.add_argument("--ann", required=True, help="Karpathy-format annotations: the rerank clients' captions")
    r.add_argument("--image-index", required=True)
    r.add_argument("--text-index", required=True, help="the probe's index, with a [text] field")
    r.add_argument("--model-id", default="fuserank-small")
    r.add_argument("--clients", type=int, default=16)
    r.add_argument("--window", type=int, default=32)
    r.add_argument("--duration-s", type=float, default=75, help="probe time under load")
    r.add_argument("--ramp-s", type=float, default=5, help="load time before the probe starts measuring")
    r.add_argument("--alone-s", type=float, default=20, help="probe time without load")
    r.add_argument("--probe-interval-ms", type=float, default=100)
    r.add_argument("--backoff-ms", type=float, default=100, help="a rerank client's pause after a 429")
    r.add_argument("--out", help="also write the JSON here")
    t = commands.add_parser("prepare-text", help="(re)create the probe's text index from the captions of --ann")
    t.add_argument("--url", default="http://127.0.0.1:9200")
    t.add_argument("--ann", required=True)
    t.add_argument("--text-index", required=True)
    p = commands.add_parser("report", help="a markdown table of run outputs")
    p.add_argument("runs", nargs="+")
    args = parser.parse_args()
    if args.command == "run":
        run(args)
    elif args.command == "prepare-text":
        prepare_text(args)
    else:
        report(args.runs)


if __name__ == "__main__":
    main()
