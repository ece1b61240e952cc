#!/usr/bin/env python3
"""The reranked scores agree to the last digit on every path, for every query of a split.

Issue 19's promise: the scores the demo, the CLI (both paths) and REST print are computed by the
same code (reranker/: ScoreFormula, RescoredRanking, FusionScorer). For every caption of the split
as a text->image query against the image index, and every image as an image->text query against
the caption index, this runs

  * REST: the documented body (example-queries/search/text-to-image.json, image-to-text.json) with
    `?explain=true`, the ITM and ITC parts read from the explanation (docs/scores.md);
  * the CLI on the plugin: `bin/fuserank search --queries FILE --parts` (what scripts/demo prints);
  * the CLI's client-side rerank: the same with `--client-side`;

and asserts that the three give the same ids in the same order, the same scores and the same ITM
and ITC parts, compared as float32 values (each number's JSON text read as the float32 it prints).
It exits 1 naming the first queries that differ, else prints how many queries x hits it compared.

Runs against a node that holds the recall harness's indices (scripts/test keeps the harness's node
up for it: FUSERANK_BENCH_KEEP_NODE=1). Standard library only.

  check_score_agreement.py --url URL --ann OUT/annotations.json --image-root DIR \
      --images INDEX --captions INDEX [--model DIR] [--size 20] [--window 16]
"""
import argparse
import base64
import concurrent.futures
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EXAMPLES = os.path.join(ROOT, "example-queries", "search")
SCORE_MODE = "itm_plus_itc"  # the CLI's default; the REST body names it


def f32(number):
    """The float32 a JSON number prints, as its 4 bytes: equal bytes mean the same score to the last digit."""
    return struct.pack("<f", float(number)) if number is not None else None


def part(explanation, key):
    """The value of the explanation node (depth first) whose description starts with `key: ` (ScorePart.describes)."""
    if explanation.get("description", "").startswith(key + ": "):
        return explanation["value"]
    for detail in explanation.get("details", []):
        value = part(detail, key)
        if value is not None:
            return value
    return None


def rest_body(template, placeholder, value, size, window):
    """The documented example body with the query filled in and the CLI's size, k, num_candidates and window."""
    body = json.loads(json.dumps(template).replace(placeholder, value))
    k = max(size, window)
    body["size"] = size
    body["knn"].update(k=k, num_candidates=min(10_000, max(64, 4 * k)))
    body["rescore"]["window_size"] = window
    body["rescore"]["fuserank_itm"]["score_mode"] = SCORE_MODE
    return body


def rest(url, index, bodies):
    """Per query: [(id, score, itm, itc)] of the REST search with explain."""
    answers = []
    for body in bodies:
        request = urllib.request.Request(f"{url}/{index}/_search?explain=true", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=120) as response:
            hits = json.load(response)["hits"]["hits"]
        answers.append([(h["_id"], h["_score"], part(h["_explanation"], "itm"), part(h["_explanation"], "itc")) for h in hits])
    return answers


def cli(url, index, queries_file, count, model, size, window, client_side):
    """Per query: [(id, score, itm, itc)] of `bin/fuserank search --queries FILE --parts` (plugin-side or client-side)."""
    command = [os.path.join(ROOT, "bin", "fuserank"), "search", index, "--queries", queries_file, "--model", model,
               "--url", url, "--size", str(size), "--window", str(window), "--score-mode", SCORE_MODE, "--parts"]
    if client_side:
        command += ["--client-side", "--threads", "1"]
    run = subprocess.run(command, capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"{' '.join(command)} exited {run.returncode}:\n" + "\n".join(run.stderr.splitlines()[:10]))
    answers = [[] for _ in range(count)]
    for line in run.stdout.splitlines():
        hit = json.loads(line)
        answers[hit["query"]].append((hit["_id"], hit["score"], hit["itm"], hit["itc"]))
    return answers


def at(hits, rank):
    return hits[rank] if rank < len(hits) else "no hit"


def differences(direction, paths, labels):
    """One line per query where a path's hits differ from the first path's, naming the first hit that differs."""
    found = []
    reference = paths[0]
    for q in range(len(reference)):
        expected = [(i, f32(s), f32(m), f32(c)) for i, s, m, c in reference[q]]
        for label, answers in zip(labels[1:], paths[1:]):
            got = [(i, f32(s), f32(m), f32(c)) for i, s, m, c in answers[q]]
            if got != expected:
                r = next((r for r in range(min(len(got), len(expected))) if got[r] != expected[r]), min(len(got), len(expected)))
                found.append(f"{direction} query {q}, rank {r + 1} of {len(expected)} (id, score, itm, itc): "
                             f"{labels[0]} {at(reference[q], r)}, {label} {at(answers[q], r)}")
    return found


def check(direction, url, index, queries, bodies, model, size, window, work):
    """Runs one direction's queries on the three paths and prints what it compared; returns the differences."""
    queries_file = os.path.join(work, direction.replace(">", "") + ".queries")
    with open(queries_file, "w", encoding="utf-8") as f:
        f.write("".join(json.dumps(q) + "\n" for q in queries))
    labels = ["REST", "CLI plugin-side", "CLI client-side"]
    runs = [lambda: rest(url, index, bodies),
            lambda: cli(url, index, queries_file, len(queries), model, size, window, client_side=False),
            lambda: cli(url, index, queries_file, len(queries), model, size, window, client_side=True)]
    start = time.monotonic()
    seconds = [0.0] * len(runs)

    def timed(i):
        answers = runs[i]()
        seconds[i] = time.monotonic() - start
        return answers

    # The three paths at once: two CLI processes and the node share the cores instead of taking turns.
    with concurrent.futures.ThreadPoolExecutor(len(runs)) as pool:
        paths = list(pool.map(timed, range(len(runs))))
    hits = sum(len(a) for a in paths[0])
    scored = sum(1 for a in paths[0] for h in a if h[2] is not None)
    if hits == 0 or scored == 0:
        sys.exit(f"{direction}: REST returned {hits} hits, {scored} with ITM parts: nothing to compare")
    found = differences(direction, paths, labels)
    print(f"{direction}: {len(queries)} queries x {size} hits ({hits} hits, {scored} with ITM and ITC parts) "
          f"compared on " + ", ".join(f"{label}" for label in labels) + f" at once in {max(seconds):.1f} s "
          f"(" + ", ".join(f"{t:.1f}" for t in seconds) + "): "
          f"{len(queries) - len(found)} identical")
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--ann", required=True, help="the split's Karpathy file (the harness writes OUT/annotations.json)")
    parser.add_argument("--image-root", required=True)
    parser.add_argument("--images", required=True, help="the image index")
    parser.add_argument("--captions", required=True, help="the caption index")
    parser.add_argument("--model", default=os.path.join(ROOT, "models", "fuserank-small"))
    parser.add_argument("--size", type=int, default=20, help="hits compared per query (default 20: the window and 4 below it)")
    parser.add_argument("--window", type=int, default=16)
    args = parser.parse_args()

    with open(args.ann, encoding="utf-8") as f:
        entries = json.load(f)
    model_id = os.path.basename(os.path.normpath(args.model))
    with open(os.path.join(EXAMPLES, "text-to-image.json"), encoding="utf-8") as f:
        t2i = json.load(f)
    with open(os.path.join(EXAMPLES, "image-to-text.json"), encoding="utf-8") as f:
        i2t = json.load(f)
    for template in (t2i, i2t):
        template["knn"]["query_vector_builder"][next(iter(template["knn"]["query_vector_builder"]))]["model_id"] = model_id
        template["rescore"]["fuserank_itm"]["model_id"] = model_id

    captions = [c for e in entries for c in e["caption"]]
    images = [os.path.abspath(os.path.join(args.image_root, e["image"])) for e in entries]
    # json.dumps escapes the text as JSON inside the template's JSON string
    text_bodies = [rest_body(t2i, "{{TEXT}}", json.dumps(c)[1:-1], args.size, args.window) for c in captions]
    image_bodies = []
    for path in images:
        with open(path, "rb") as f:
            image_bodies.append(rest_body(i2t, "{{IMAGE_BASE64}}", base64.b64encode(f.read()).decode(), args.size, args.window))

    with tempfile.TemporaryDirectory(prefix="score-agreement-") as work:
        found = check("text->image", args.url, args.images, [{"text": c} for c in captions], text_bodies,
                      args.model, args.size, args.window, work)
        found += check("image->text", args.url, args.captions, [{"image": p} for p in images], image_bodies,
                       args.model, args.size, args.window, work)
    if found:
        for line in found[:5]:
            print("  " + line, file=sys.stderr)
        sys.exit(f"score agreement FAILED: {len(found)} query answers differ between the paths (the first {min(5, len(found))} above)")


if __name__ == "__main__":
    main()
