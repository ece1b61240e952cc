"""Write the one-MatMul ONNX graphs the Java ``GemmProbe`` times: fp32 and int8.

The benchmark measures the machine's fp32 GEMM rate through ONNX Runtime itself, so the rate
comes from the same MLAS kernels, thread pool and session options the fuserank models run on;
the fusion encoder's achieved FLOP rate is reported as a fraction of it. The graph is
``Y = MatMul(A, B)`` with ``A [M, K]`` and ``B [K, N]`` float32 graph inputs and every axis
dynamic, so one file serves every shape and ONNX Runtime cannot constant-fold anything.

Deterministic: no weights, no timestamps, fixed producer fields, so the same ``onnx`` version
writes the same bytes.

``gemm_int8.onnx`` is the int8 floor: ``Y = MatMul(A, W)`` with ``A [M, 1024]`` float32 and a fixed
seeded ``W [1024, 1024]``, quantized by ``onnxruntime.quantization.quantize_dynamic`` (int8
weights in 7 bits, ``reduce_range``; A quantized per call), which is what the int8 graphs of a bundle run
(``encoder/training/quantize.py``): the same MLAS integer kernels, VNNI or AMX where the CPU
has them. Run from the repository root::

    python encoder/training/tools/make_gemm_onnx.py [OUT_DIR]   # default benchmarks/src/main/resources
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
import onnx
import onnx.numpy_helper
import onnxruntime as ort
from onnx import TensorProto, helper

OPSET = 17
# IR version 8 is the one that goes with opset 17 (onnx 1.12); any ONNX Runtime since 1.12 reads it.
IR_VERSION = 8
DEFAULT_DIR = Path(__file__).resolve().parents[3] / "benchmarks" / "src" / "main" / "resources"
INT8_K = INT8_N = 1024


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


def int8_gemm_model(directory: Path) -> bytes:
    """``MatMul(A, W)`` with a seeded ``W``, quantized dynamically to int8 weights."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    w = np.random.default_rng(0).uniform(-1, 1, (INT8_K, INT8_N)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["A", "W"], ["Y"], name="gemm")],
        "gemm_int8",
        inputs=[helper.make_tensor_value_info("A", TensorProto.FLOAT, ["M", INT8_K])],
        outputs=[helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["M", INT8_N])],
        initializer=[onnx.numpy_helper.from_array(w, "W")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="fuserank make_gemm_onnx.py",
                              producer_version="1")
    model.ir_version = IR_VERSION
    fp32, int8 = directory / "gemm_int8.fp32.tmp.onnx", directory / "gemm_int8.onnx"
    onnx.save(model, fp32)
    try:
        # reduce_range: 7-bit weights. With the full 8-bit range ONNX Runtime 1.29's u8 x s8 MatMulInteger
        # is off by 16% of the output range on this CPU (int16 saturation); 7 bits give 1.5%.
        quantize_dynamic(fp32, int8, weight_type=QuantType.QInt8, reduce_range=True)
    finally:
        fp32.unlink()
    data = int8.read_bytes()
    ops = {n.op_type for n in onnx.load_from_string(data).graph.node}
    if "MatMulInteger" not in ops and "DynamicQuantizeMatMul" not in ops:
        raise SystemExit(f"quantize_dynamic left no integer MatMul: {sorted(ops)}")
    a = np.random.default_rng(1).standard_normal((7, INT8_K), dtype=np.float32)
    (y,) = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(["Y"], {"A": a})
    if y.shape != (7, INT8_N) or np.abs(y - a @ w).max() > 0.05 * np.abs(a @ w).max():
        raise SystemExit("the int8 GEMM is not close to numpy's")
    return data


def main(argv: list[str]) -> None:
    directory = Path(argv[0]) if argv else DEFAULT_DIR
    directory.mkdir(parents=True, exist_ok=True)
    data = gemm_model().SerializeToString(deterministic=True)
    check_in_onnxruntime(data)
    (directory / "gemm.onnx").write_bytes(data)
    int8 = int8_gemm_model(directory)
    for name, content in (("gemm.onnx", data), ("gemm_int8.onnx", int8)):
        print(f"wrote {directory / name} ({len(content)} bytes, sha256 {hashlib.sha256(content).hexdigest()})")


if __name__ == "__main__":
    main(sys.argv[1:])
