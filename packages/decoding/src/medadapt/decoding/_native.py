"""Bridge to the compiled ``_core`` extension: device detection, DLPack hand-off and invalid-row policy."""

from __future__ import annotations

import os

import numpy as np

from medadapt.decoding.inputs import ids_as_int64, numpy_logits_dtype
from medadapt.decoding.reference import InvalidRowError, describe_invalid_rows
from medadapt.decoding.result import ConstrainedResult

try:
    from medadapt.decoding import _core
except ImportError:  # pragma: no cover - only a source tree without a build
    _core = None  # type: ignore[assignment]

_KDLCPU, _KDLCUDA = 1, 2
_FAST_KINDS = {np.dtype(np.float32): "float32", np.dtype(np.float16): "float16"}


_BUILT: tuple[str, ...] = (
    tuple(_core.built_backends()) if _core is not None and hasattr(_core, "constrained_logprobs") else ()
)
_POOL_VARIABLE = "MEDADAPT_DECODING_THREAD_POOL"
if _BUILT and os.environ.get(_POOL_VARIABLE):
    try:
        _core.set_cpu_thread_pool(os.environ[_POOL_VARIABLE])
    except ValueError as error:
        raise ValueError(f"environment variable {_POOL_VARIABLE}: {error}") from None


def built_backends() -> list[str]:
    """Backends the compiled extension was built with (empty when it is missing)."""
    return list(_BUILT)


def device_type(logits: object) -> str:
    """ "cpu" or "cuda" from the object's DLPack device; numpy and array-likes are "cpu"."""
    if isinstance(logits, np.ndarray) or not hasattr(logits, "__dlpack_device__"):
        return "cpu"
    kind, _ = logits.__dlpack_device__()
    if int(kind) in (_KDLCPU, 3):  # kDLCPU, kDLCUDAHost
        return "cpu"
    if int(kind) in (_KDLCUDA, 13):  # kDLCUDA, kDLCUDAManaged
        return "cuda"
    raise ValueError(f"logits: DLPack device type {int(kind)} is not supported (cpu or cuda only)")


def _torch_current_stream(logits: object) -> int | None:
    """torch's current CUDA stream for a torch tensor, read without importing torch ourselves."""
    module = type(logits).__module__
    if not module.startswith("torch"):
        return None
    import sys

    torch = sys.modules.get("torch")
    if torch is None:
        return None
    return int(torch.cuda.current_stream(logits.device).cuda_stream)  # type: ignore[attr-defined]


def _ids_for_kernel(allowed_ids: object, batch: int, vocab: int) -> np.ndarray:
    """int64 C-contiguous [B, K] ids; values are range-checked in C++ (one pass, no numpy temporaries).

    Unsigned ids are range-checked here, before the cast to int64 could wrap huge ones to negative numbers.
    """
    if hasattr(allowed_ids, "__dlpack__") and not isinstance(allowed_ids, np.ndarray):
        cpu = getattr(allowed_ids, "cpu", None)
        allowed_ids = np.from_dlpack(cpu() if cpu is not None else allowed_ids)
    if type(allowed_ids) is np.ndarray and allowed_ids.dtype == np.int64 and allowed_ids.ndim == 2:
        return allowed_ids  # the C++ side takes any row-major int64 array without a copy
    ids = np.asarray(allowed_ids)
    if ids.dtype.kind not in "iu":
        raise TypeError(f"allowed_ids: expected an integer array, got dtype {ids.dtype}")
    if ids.ndim == 1:
        ids = np.broadcast_to(ids, (batch, ids.shape[0]))
    if ids.ndim != 2:
        raise ValueError(f"allowed_ids: expected an int array [B, K] (or [K]), got shape {tuple(ids.shape)}")
    return ids_as_int64(ids, vocab)


def run(
    logits: object,
    allowed_ids: object,
    *,
    dtype: str | None,
    backend: str,
    invalid: str,
    threads: int | None,
    stream: int | None,
    isa: str | None = None,
) -> ConstrainedResult:
    """Validate, call the kernel with the GIL released, and apply the invalid-row policy."""
    if invalid not in ("raise", "mark"):
        raise ValueError(f"invalid must be 'raise' or 'mark', got {invalid!r}")
    where = device_type(logits)
    if backend == "auto":
        backend = where
    if backend != where:
        raise ValueError(f"backend={backend!r} but the logits live on {where}")
    if backend not in _BUILT:
        raise ValueError(f"backend {backend!r} is not built in this install (built: {built_backends()})")
    if isinstance(logits, np.ndarray):
        kind = _FAST_KINDS.get(logits.dtype) if dtype is None else None
        kind = kind or numpy_logits_dtype(logits, dtype)
        if logits.ndim != 2:
            raise ValueError(f"logits: expected a 2-D [B, V] array, got shape {tuple(logits.shape)}")
        ids = _ids_for_kernel(allowed_ids, logits.shape[0], logits.shape[1])
        out = _core.constrained_logprobs(logits, kind, ids, -1 if threads is None else int(threads), isa)
    else:
        if dtype is not None:
            raise TypeError("dtype= is only for numpy uint16 bfloat16 bits; DLPack tensors carry their dtype")
        shape = tuple(getattr(logits, "shape", ()))
        if len(shape) != 2:
            raise ValueError(f"logits: expected a 2-D [B, V] tensor, got shape {shape}")
        ids = _ids_for_kernel(allowed_ids, int(shape[0]), int(shape[1]))
        if backend == "cuda":
            if stream is None:
                stream = _torch_current_stream(logits)
            # DLPack forbids stream 0: the legacy default stream is spelled 1 there (and 0 for the launch)
            capsule = logits.__dlpack__(stream=stream if stream else 1)  # type: ignore[attr-defined]
            out = _core.constrained_logprobs_cuda(capsule, ids, 0 if stream is None else int(stream))
        else:
            capsule = logits.__dlpack__()  # type: ignore[attr-defined]
            out = _core.constrained_logprobs_dlpack(
                capsule, ids, -1 if threads is None else int(threads), isa
            )
    logp, lse, argmax, top, row_max, has_nan, valid, all_valid = out
    if not all_valid:
        if invalid == "raise":
            raise InvalidRowError(describe_invalid_rows(valid, has_nan, row_max))
        logp[~valid] = -np.inf
        lse[~valid] = np.nan
        argmax[~valid] = -1
        top[~valid] = -1
    return ConstrainedResult(logprobs=logp, logsumexp=lse, argmax=argmax, top_token=top, valid=valid)
