"""Type stubs of the compiled extension (csrc/bindings.cpp); use the medadapt.decoding Python API instead."""

from __future__ import annotations

import numpy as np

_Outputs = tuple[
    np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool
]  # logprobs, lse, argmax, top_token, row_max, has_nan, valid, all_valid

def built_backends() -> tuple[str, ...]: ...
def cpu_isa() -> str: ...
def constrained_logprobs(
    logits: np.ndarray, kind: str, ids: np.ndarray, threads: int = -1, isa: str | None = None
) -> _Outputs: ...
def constrained_logprobs_dlpack(
    capsule: object, ids: np.ndarray, threads: int = -1, isa: str | None = None
) -> _Outputs: ...
def constrained_logprobs_cuda(capsule: object, ids: np.ndarray, stream: int = 0) -> _Outputs: ...
