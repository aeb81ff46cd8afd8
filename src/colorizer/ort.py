"""onnxruntime sessions and the weight hashes that tie an ONNX export to its safetensors file,
shared by the colorizers' backend (:mod:`colorizer.onnx_backend`) and the damage detector
(:mod:`colorizer.repair`). Imports nothing of ours but the errors, so either can use it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from colorizer.errors import ColorizerError


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def session(path: Path, device: str = "cpu", threads: int | None = None):
    try:
        import onnxruntime as ort
    except ImportError:
        raise ColorizerError("the onnx backend needs onnxruntime: pip install onnxruntime") from None
    providers = ["CPUExecutionProvider"]
    if device == "cuda":
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise ColorizerError("--device cuda with --backend onnx needs onnxruntime-gpu; use "
                                 "--backend torch for the GPU")
        providers.insert(0, "CUDAExecutionProvider")
    opts = ort.SessionOptions()
    opts.log_severity_level = 3  # errors only: no optimiser chatter on the user's terminal
    # worker threads that spin after a run take the cores from the OpenCV work that follows
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads:  # e.g. 1 in a Dask worker that runs one task per thread
        opts.intra_op_num_threads = threads
    try:
        return ort.InferenceSession(str(path), opts, providers=providers)
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidProtobuf/... types
        raise ColorizerError(f"{path}: not a readable ONNX model ({str(exc).splitlines()[0]})") from None
