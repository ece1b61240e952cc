"""Write the one-MatMul ONNX graph the Java ``GemmBenchmark`` times.

The benchmark measures the machine's fp32 GEMM rate through ONNX Runtime itself, so the rate
comes from the same MLAS kernels, thread pool and session options the fuserank models run on;
the fusion encoder's achieved FLOP rate is reported as a fraction of it. The graph is
``Y = MatMul(A, B)`` with ``A [M, K]`` and ``B [K, N]`` float32 graph inputs and every axis
dynamic, so one file serves every shape and ONNX Runtime cannot constant-fold anything.

Deterministic: no weights, no timestamps, fixed producer fields, so the same ``onnx`` version
writes the same bytes. Run from the repository root::

    python encoder/training/tools/make_gemm_onnx.py [benchmarks/src/main/resources/gemm.onnx]
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

OPSET = 17
# IR version 8 is the one that goes with opset 17 (onnx 1.12); any ONNX Runtime since 1.12 reads it.
IR_VERSION = 8
DEFAULT_OUT = Path(__file__).resolve().parents[3] / "benchmarks" / "src" / "main" / "resources" / "gemm.onnx"


def gemm_model() -> onnx.ModelProto:
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["A", "B"], ["Y"], name="gemm")],
        "gemm",
        inputs=[
            helper.make_tensor_value_info("A", TensorProto.FLOAT, ["M", "K"]),
            helper.make_tensor_value_info("B", TensorProto.FLOAT, ["K", "N"]),
        ],
        outputs=[helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["M", "N"])],
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="fuserank make_gemm_onnx.py",
        producer_version="1",
    )
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    return model


def check_in_onnxruntime(data: bytes) -> None:
    """One non-square product through ONNX Runtime against numpy, so a broken graph never ships."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((7, 5), dtype=np.float32)
    b = rng.standard_normal((5, 3), dtype=np.float32)
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    (y,) = session.run(["Y"], {"A": a, "B": b})
    if y.shape != (7, 3) or not np.allclose(y, a @ b, atol=1e-5):
        raise SystemExit(f"ONNX Runtime computed {y.shape} {y!r}, numpy {a @ b!r}")


def main(argv: list[str]) -> None:
    out = Path(argv[0]) if argv else DEFAULT_OUT
    data = gemm_model().SerializeToString(deterministic=True)
    check_in_onnxruntime(data)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    print(f"wrote {out} ({len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()})")


if __name__ == "__main__":
    main(sys.argv[1:])
