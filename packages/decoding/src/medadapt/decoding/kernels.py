"""Public entry point: dispatch ``constrained_logprobs`` to the compiled CPU/CUDA kernel by where the logits live."""

from __future__ import annotations

from typing import Any

import numpy as np

from medadapt.decoding import _native
from medadapt.decoding.reference import reference_constrained_logprobs
from medadapt.decoding.result import ConstrainedResult

BACKENDS = ("auto", "cpu", "cuda", "numpy")
THREAD_POOLS = ("auto", "own")


def backends() -> list[str]:
    """The kernels this install can run: "cpu" (compiled), "cuda" (compiled with CUDA), "numpy" is always there."""
    return [*_native.built_backends(), "numpy"]


def set_cpu_thread_pool(choice: str) -> None:
    """Where the CPU kernel's threads come from, for the whole process.

    "auto" (default): the team of an OpenMP runtime already loaded in the process (torch's), else a pool of our
    own. Borrowing matters: after each torch call torch's OpenMP workers keep spinning on the other cores, and a
    second pool would fight them for those cores (BENCHMARKS.md). "own": always our pool (sleeping workers, safe
    after fork). The environment variable ``MEDADAPT_DECODING_THREAD_POOL`` sets the same at import.
    """
    if choice not in THREAD_POOLS:
        raise ValueError(f"thread pool must be one of {THREAD_POOLS}, got {choice!r}")
    _compiled_core().set_cpu_thread_pool(choice)


def cpu_thread_pool() -> str:
    """The pool the next CPU call would use: "own", or "openmp:<path of the borrowed runtime>"."""
    return str(_compiled_core().cpu_thread_pool())


def _compiled_core() -> Any:
    """The compiled extension; settings of the compiled kernel mean nothing without it."""
    if not _native._BUILT:
        raise RuntimeError("the compiled kernel is not built in this install; only the numpy backend runs")
    return _native._core


def constrained_logprobs(
    logits: object,
    allowed_ids: object,
    *,
    dtype: str | None = None,
    backend: str = "auto",
    invalid: str = "raise",
    threads: int | None = None,
    stream: int | None = None,
    isa: str | None = None,
) -> ConstrainedResult:
    """Full-vocabulary log-probs of a few allowed ids per row, in one read of the logits.

    Args:
        logits: [B, V] numpy array (float32, float16, ml_dtypes.bfloat16, or uint16 bits with dtype="bfloat16")
            or any DLPack tensor (torch CPU/CUDA, float32/float16/bfloat16); rows may be strided
            (``logits[:, -1, :]``) but the vocabulary axis must be contiguous.
        allowed_ids: int [B, K] (or [K], shared by every row); -1 pads ragged rows.
        dtype: only for numpy uint16 input holding bfloat16 bits ("bfloat16").
        backend: "auto" (by the logits' device), "cpu", "cuda" or "numpy" (the float32 numpy fallback).
        invalid: "raise" (default) raises InvalidRowError for rows with NaN/+inf or only -inf; "mark" returns them
            with ``valid[b] = False``, ``logprobs = -inf``, ``logsumexp = NaN``, ``argmax = top_token = -1``.
        threads: CPU threads (default: torch's thread count when the kernel runs on torch's OpenMP team, see
            ``set_cpu_thread_pool``; else every CPU the process may use).
        stream: CUDA stream handle to run on (default: torch's current stream for torch tensors, else the default).
        isa: force a CPU build ("baseline", "avx2", "avx512"); default: the best this processor supports.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "numpy" or (backend == "auto" and not _native._BUILT):
        if _native.device_type(logits) != "cpu":
            raise ValueError("backend 'numpy' needs host logits; this install has no CUDA kernel")
        return reference_constrained_logprobs(
            logits, allowed_ids, dtype=dtype, invalid=invalid, compute_dtype=np.float32
        )
    return _native.run(
        logits,
        allowed_ids,
        dtype=dtype,
        backend=backend,
        invalid=invalid,
        threads=threads,
        stream=stream,
        isa=isa,
    )
