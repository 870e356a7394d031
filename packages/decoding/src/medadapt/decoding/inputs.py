"""Validation and conversion of the logits / allowed-ids arguments shared by every backend."""

from __future__ import annotations

import numpy as np

SUPPORTED_DTYPES = ("float32", "float16", "bfloat16")


def bf16_bits_to_float32(bits: np.ndarray) -> np.ndarray:
    """Widen raw bfloat16 bits (uint16) to float32 exactly: numpy has no bfloat16 of its own."""
    return (bits.astype(np.uint32) << 16).view(np.float32)


def numpy_logits_dtype(array: np.ndarray, dtype: str | None) -> str:
    """The element type a numpy logits array holds: float32/float16, or bfloat16 (uint16 bits or ml_dtypes)."""
    name = array.dtype.name
    if dtype is not None and dtype not in SUPPORTED_DTYPES:
        raise TypeError(f"dtype must be one of {SUPPORTED_DTYPES} or None, got {dtype!r}")
    if name == "bfloat16":  # ml_dtypes.bfloat16
        return "bfloat16"
    if dtype == "bfloat16":
        if name not in ("uint16", "int16"):
            raise TypeError(
                f"logits: dtype='bfloat16' needs a uint16 view of the bits, got numpy dtype {name}"
            )
        return "bfloat16"
    if name in ("float32", "float16"):
        if dtype is not None and dtype != name:
            raise TypeError(f"logits: numpy dtype is {name} but dtype={dtype!r} was passed")
        return name
    if name == "uint16":
        raise TypeError("logits: numpy uint16 is ambiguous; pass dtype='bfloat16' if it holds bfloat16 bits")
    raise TypeError(f"logits: expected float32, float16 or bfloat16, got numpy dtype {name}")


def logits_to_numpy_float(logits: object, *, dtype: str | None = None) -> np.ndarray:
    """Logits as a float32 (or float64) numpy [B, V] array, for the reference and fallback paths."""
    if isinstance(logits, np.ndarray):
        array = logits
    elif hasattr(logits, "__dlpack__"):
        array = _dlpack_to_numpy(logits)
    else:
        array = np.asarray(logits)
    if array.ndim != 2:
        raise ValueError(f"logits: expected a 2-D [B, V] array, got shape {tuple(array.shape)}")
    if array.dtype == np.float64:
        return array
    kind = numpy_logits_dtype(array, dtype)
    if kind == "bfloat16":
        return bf16_bits_to_float32(array.view(np.uint16))
    return array.astype(np.float32, copy=False)


def _dlpack_to_numpy(tensor: object) -> np.ndarray:
    """Host copy of a DLPack tensor; bfloat16 (which numpy cannot import) is widened through its float()."""
    try:
        return np.from_dlpack(tensor)  # type: ignore[arg-type]
    except (TypeError, BufferError, RuntimeError) as err:
        to_float = getattr(tensor, "float", None)
        if to_float is None:
            raise TypeError(f"logits: cannot read this DLPack tensor on the host: {err}") from err
        widened = to_float()
        cpu = getattr(widened, "cpu", None)
        return np.from_dlpack(cpu() if cpu is not None else widened)


def _out_of_range(ids: np.ndarray, bad: np.ndarray, vocab: int) -> ValueError:
    """The error for the first id flagged in `bad`, printed as the value given (unsigned stays positive)."""
    row, col = (int(v) for v in np.argwhere(bad)[0])
    return ValueError(
        f"allowed_ids: id {ids[row, col].item()} at [{row}, {col}] is out of range for vocabulary size {vocab} "
        "(valid: 0..V-1, or -1 as padding)"
    )


def ids_as_int64(ids: np.ndarray, vocab: int) -> np.ndarray:
    """An integer [B, K] ids array as C-contiguous int64, range-checking unsigned ids before the cast.

    Casting wraps uint64 ids of 2**63 and more to negative numbers (2**64 - 1 would become the -1 padding), so
    unsigned ids are checked against the vocabulary first and reported as the positive numbers given.
    """
    if ids.dtype.kind == "u":
        bad = ids >= vocab
        if bad.any():
            raise _out_of_range(ids, bad, vocab)
    return np.ascontiguousarray(ids, dtype=np.int64)


def check_allowed_ids(allowed_ids: object, batch: int, vocab: int) -> np.ndarray:
    """allowed_ids as a C-contiguous int64 [B, K] array, every id in [0, V) or -1, no empty row."""
    if hasattr(allowed_ids, "__dlpack__") and not isinstance(allowed_ids, np.ndarray):
        cpu = getattr(allowed_ids, "cpu", None)
        allowed_ids = np.from_dlpack(cpu() if cpu is not None else allowed_ids)
    ids = np.asarray(allowed_ids)
    if ids.ndim == 1:
        ids = np.broadcast_to(ids, (batch, ids.shape[0]))
    if ids.ndim != 2:
        raise ValueError(f"allowed_ids: expected an int array [B, K] (or [K]), got shape {tuple(ids.shape)}")
    if ids.dtype.kind not in "iu":
        raise TypeError(f"allowed_ids: expected an integer array, got dtype {ids.dtype}")
    if ids.shape[0] != batch:
        raise ValueError(f"allowed_ids: has {ids.shape[0]} rows but logits has {batch}")
    if ids.shape[1] == 0:
        raise ValueError("allowed_ids: K is 0, every row needs at least one allowed id")
    ids = ids_as_int64(ids, vocab)
    bad = (ids < -1) | (ids >= vocab)
    if bad.any():
        raise _out_of_range(ids, bad, vocab)
    empty = (ids < 0).all(axis=1)
    if empty.any():
        raise ValueError(
            f"allowed_ids: row {int(np.flatnonzero(empty)[0])} has no allowed id (all -1 padding)"
        )
    return ids
