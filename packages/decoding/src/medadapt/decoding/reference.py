"""The float64 numpy oracle every backend is tested against (and the fallback when nothing is compiled)."""

from __future__ import annotations

import numpy as np

from medadapt.decoding.inputs import check_allowed_ids, logits_to_numpy_float
from medadapt.decoding.result import ConstrainedResult


def reference_constrained_logprobs(
    logits: object,
    allowed_ids: object,
    *,
    dtype: str | None = None,
    invalid: str = "raise",
    compute_dtype: type = np.float64,
    output_dtype: type = np.float32,
) -> ConstrainedResult:
    """Same contract as ``constrained_logprobs``, computed in ``compute_dtype`` (float64) with plain numpy.

    Outputs are float32/int64 like the kernels' (``output_dtype=np.float64`` keeps the oracle unrounded);
    ``compute_dtype=np.float32`` gives a plain fp32 version, the yardstick of the kernels' error.
    """
    x: np.ndarray = logits_to_numpy_float(logits, dtype=dtype).astype(compute_dtype, copy=False)
    batch, vocab = x.shape
    ids = check_allowed_ids(allowed_ids, batch, vocab)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        row_max = np.max(x, axis=1) if vocab else np.full(batch, -np.inf)
        has_nan = np.isnan(x).any(axis=1)
        valid = np.isfinite(row_max) & ~has_nan
        safe_max: np.ndarray = np.where(valid, row_max, 0.0).astype(compute_dtype)
        total = np.exp(x - safe_max[:, None]).sum(axis=1, dtype=compute_dtype)
        lse = safe_max + np.log(total)
        _raise_or_mark(valid, has_nan, row_max, invalid)
        pad = ids < 0
        gathered = np.take_along_axis(x, np.where(pad, 0, ids), axis=1)
        logp = np.where(pad, -np.inf, gathered - lse[:, None])
        logp = np.where(valid[:, None], logp, -np.inf)
    argmax = np.where(valid, np.argmax(logp, axis=1), -1)
    top = np.where(valid, np.argmax(np.where(np.isnan(x), -np.inf, x), axis=1), -1)
    return ConstrainedResult(
        logprobs=logp.astype(output_dtype),
        logsumexp=np.where(valid, lse, np.nan).astype(output_dtype),
        argmax=argmax.astype(np.int64),
        top_token=top.astype(np.int64),
        valid=valid,
    )


def _raise_or_mark(valid: np.ndarray, has_nan: np.ndarray, row_max: np.ndarray, invalid: str) -> None:
    """Apply the invalid-row policy shared by every backend."""
    if invalid not in ("raise", "mark"):
        raise ValueError(f"invalid must be 'raise' or 'mark', got {invalid!r}")
    if invalid == "raise" and not valid.all():
        raise InvalidRowError(describe_invalid_rows(valid, has_nan, row_max))


class InvalidRowError(ValueError):
    """A logits row has no finite log-sum-exp (NaN, +inf, or every entry -inf)."""


def describe_invalid_rows(valid: np.ndarray, has_nan: np.ndarray, row_max: np.ndarray) -> str:
    """Name the first few bad rows and why, for the error message."""
    bad = np.flatnonzero(~valid)
    reasons = []
    for row in bad[:5]:
        if has_nan[row]:
            why = "contains NaN"
        elif row_max[row] == np.inf:
            why = "contains +inf"
        else:
            why = "is all -inf"
        reasons.append(f"row {int(row)} {why}")
    more = f" (and {len(bad) - 5} more)" if len(bad) > 5 else ""
    return f"logits: {len(bad)} row(s) have no finite log-sum-exp: {', '.join(reasons)}{more}"
