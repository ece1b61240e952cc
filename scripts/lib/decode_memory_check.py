"""Hostile-input regression check: large decoded images sent concurrently must not exhaust a node's heap.

A 16-bit RGBA PNG of 6,300 x 6,300 pixels is under the 40-megapixel limit and only ~360 KB
encoded (every row after the first is PNG filter "Up" with zero differences), but decodes to a
317 MB raster. Four such queries at once on a node with a 1 GB heap and four inference threads
used to end in an OutOfMemoryError that killed the node. Now such an image is decoded
subsampled, and what decoding still takes is reserved from the ``fuserank`` circuit breaker
first; a 79,000 x 506 strip of the same kind (40 megapixels whose shorter side leaves nothing to
subsample for a small model) still needs ~440 MB and must be refused. Every query must answer 200
or 429 ``circuit_breaking_exception``, the node must stay up, and the breaker must hold nothing
afterwards.

Usage, as a library (the real-node hostile-input suite)::

    from decode_memory_check import check_concurrent_large_images
    failures = check_concurrent_large_images("http://127.0.0.1:9530")   # [] when the node held

or from the shell (exit status 0 when the node held, 1 otherwise)::

    python3 scripts/lib/decode_memory_check.py http://127.0.0.1:9530 [--rounds 3] [--concurrency 4]

Only the standard library is used. The check creates (and deletes) the index
``fuserank-decode-memory-check``; the node needs the model (``fuserank-small`` by default).
Each concurrent query gets a different image, so the plugin's query-encoding cache cannot fold
them into one decode.
"""

from __future__ import annotations

import argparse
import base64
import json
import struct
import sys
import threading
import urllib.error
import urllib.request
import zlib

INDEX = "fuserank-decode-memory-check"
# (width, height): the square of the original report, and a strip subsampling cannot shrink for a 64-pixel model.
SHAPES = ((6300, 6300), (79000, 506))


def png(width: int, height: int, bit_depth: int = 8, colour_type: int = 2, idat: bytes | None = None) -> bytes:
    """A PNG with this IHDR and ``idat`` as its compressed data (default: one compressed empty row, a header bomb)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    body = idat if idat is not None else zlib.compress(b"\x00" * 16)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def large_rgba16_png(variant: int, width: int, height: int) -> bytes:
    """A ``width x height`` 16-bit RGBA PNG: a horizontal gradient in the first row, every later row equal to it.

    ``variant`` shifts the gradient, so that each variant has other bytes (and another cache key)."""
    first = bytearray(b"\x00")  # filter None
    for x in range(width):
        v = (x * 65535 // max(width - 1, 1) + variant * 257) & 0xFFFF
        first += struct.pack(">HHHH", v, 65535 - v, (v * 3) & 0xFFFF, 65535)
    same = b"\x02" + bytes(width * 8)  # filter Up, no difference from the row above
    packer = zlib.compressobj(9)
    data = [packer.compress(bytes(first))]
    for _ in range(height - 1):
        data.append(packer.compress(same))
    data.append(packer.flush())
    return png(width, height, bit_depth=16, colour_type=6, idat=b"".join(data))  # colour type 6: RGBA


def _request(url: str, method: str, body: dict | None = None, timeout: float = 300) -> tuple[int, dict]:
    """(HTTP status, JSON body); a connection failure is status 0 with the reason."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as e:
        try:
            return e.code, json.loads(e.read() or b"{}")
        except ValueError:
            return e.code, {}
    except (urllib.error.URLError, OSError) as e:
        return 0, {"connection_error": str(e)}


def _knn(model_id: str, image: bytes) -> dict:
    return {"size": 1, "knn": {"field": "image_vector", "k": 1, "num_candidates": 1, "query_vector_builder": {
        "fuserank_image": {"model_id": model_id, "image": base64.b64encode(image).decode()}}}}


def _breaker_estimated(url: str) -> dict[str, int]:
    """Bytes each node's ``fuserank`` breaker holds now, by node name."""
    status, body = _request(f"{url}/_nodes/stats/breaker", "GET")
    if status != 200:
        return {}
    return {node.get("name", node_id): node["breakers"]["fuserank"]["estimated_size_in_bytes"]
            for node_id, node in body.get("nodes", {}).items() if "fuserank" in node.get("breakers", {})}


def _concurrently(call, inputs: list) -> list:
    """``call`` on every input at once, one thread each; the results in input order."""
    results: list = [None] * len(inputs)

    def run(i: int) -> None:
        results[i] = call(inputs[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def _unexpected(status: int, body: dict) -> str | None:
    """Why an answer breaks the rule (200, or 429 circuit_breaking_exception), or None."""
    error = body.get("error") if isinstance(body.get("error"), dict) else {}
    if status == 429 and error.get("type") != "circuit_breaking_exception":
        return f"a 429 must be a circuit_breaking_exception, got {error.get('type')}: {body}"
    if status not in (200, 429):
        return f"expected 200 or 429, got [{status}] {body}"
    return None


def check_concurrent_large_images(url: str, model_id: str = "fuserank-small", dims: int = 128, rounds: int = 3,
                                  concurrency: int = 4, shapes=SHAPES, log=print) -> list[str]:
    """Runs the check against the node at ``url``; returns what went wrong (empty when the node held)."""
    url = url.rstrip("/")
    failures: list[str] = []
    _request(f"{url}/{INDEX}", "DELETE")
    status, body = _request(f"{url}/{INDEX}", "PUT", {"mappings": {"properties": {"image_vector": {
        "type": "dense_vector", "dims": dims, "similarity": "dot_product"}}}})
    if status != 200:
        return [f"cannot create index [{INDEX}]: [{status}] {body}"]
    try:
        small = large_rgba16_png(0, 8, 8)
        status, body = _request(f"{url}/{INDEX}/_search", "POST", _knn(model_id, small))
        if status != 200:
            return [f"a small image query must answer 200 first, got [{status}] {body}"]
        for width, height in shapes:
            images = [large_rgba16_png(v, width, height) for v in range(concurrency)]
            log(f"{concurrency} PNGs of [{width} x {height}] 16-bit RGBA, [{len(images[0])}] bytes each")
            for round_ in range(rounds):
                results = _concurrently(lambda image: _request(f"{url}/{INDEX}/_search", "POST", _knn(model_id, image)), images)
                log(f"round {round_ + 1}: statuses {[s for s, _ in results]}")
                failures += [m for m in (_unexpected(s, b) for s, b in results) if m]
                health, body = _request(f"{url}/_cluster/health", "GET", timeout=30)
                if health != 200:
                    failures.append(f"the node is down after round {round_ + 1} of [{width} x {height}]: [{health}] {body}")
                    return failures
        held = _breaker_estimated(url)
        log(f"fuserank breaker estimated bytes after the queries: {held}")
        if not held:
            failures.append("no [fuserank] breaker in the node stats")
        failures += [f"node [{name}]'s fuserank breaker still holds [{b}] bytes" for name, b in held.items() if b != 0]
        return failures
    finally:
        _request(f"{url}/{INDEX}", "DELETE")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("url", help="the node, e.g. http://127.0.0.1:9200")
    parser.add_argument("--model", default="fuserank-small")
    parser.add_argument("--dims", type=int, default=128, help="the model's embedding dimension")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    failures = check_concurrent_large_images(args.url, args.model, args.dims, args.rounds, args.concurrency)
    for f in failures:
        print(f"FAILED {f}")
    print("ok: the node held" if not failures else f"{len(failures)} failure(s)")
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
