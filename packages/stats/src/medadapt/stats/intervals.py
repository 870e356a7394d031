"""Percentile and BCa intervals and the matching two-sided p-values, vectorised over cells of bootstrap draws."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.special import ndtr, ndtri


def row_quantiles(sorted_draws: NDArray[np.float64], levels: NDArray[np.float64]) -> NDArray[np.float64]:
    """Quantiles of each sorted row at its own levels ([C, L]), linear interpolation as numpy's default."""
    b = sorted_draws.shape[1]
    position = np.clip(levels, 0.0, 1.0) * (b - 1)
    below = np.floor(position).astype(np.int64)
    above = np.minimum(below + 1, b - 1)
    fraction = position - below
    low = np.take_along_axis(sorted_draws, below, axis=1)
    high = np.take_along_axis(sorted_draws, above, axis=1)
    return low + fraction * (high - low)


def share_below(draws: NDArray[np.float64], value: NDArray[np.float64]) -> NDArray[np.float64]:
    """Share of draws below `value` per row, counting draws equal to it as half (ties are common: Δ is discrete)."""
    below = (draws < value[:, None]).sum(axis=1)
    equal = (draws == value[:, None]).sum(axis=1)
    return (below + 0.5 * equal) / draws.shape[1]


def bias_correction(draws: NDArray[np.float64], estimate: NDArray[np.float64]) -> NDArray[np.float64]:
    """BCa z0: normal quantile of the share of draws below the estimate (mid-rank ties, kept off 0 and 1)."""
    b = draws.shape[1]
    share = np.clip(share_below(draws, estimate), 0.5 / b, 1.0 - 0.5 / b)
    return ndtri(share)


def percentile_levels(confidence: float, cells: int) -> NDArray[np.float64]:
    """The (α/2, 1-α/2) quantile levels of a percentile interval, one row per cell."""
    alpha = 1.0 - confidence
    return np.tile(np.array([alpha / 2.0, 1.0 - alpha / 2.0]), (cells, 1))


def bca_levels(
    confidence: float, z0: NDArray[np.float64], acceleration: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Efron's bias-corrected and accelerated quantile levels per cell ([C, 2])."""
    alpha = 1.0 - confidence
    z = ndtri(np.array([alpha / 2.0, 1.0 - alpha / 2.0]))[None, :]
    shifted = z0[:, None] + z
    denominator = 1.0 - acceleration[:, None] * shifted
    with np.errstate(divide="ignore", invalid="ignore"):
        levels = ndtr(z0[:, None] + shifted / denominator)
    # Past the pole of the BCa map (only with extreme acceleration) the level runs to its limit, 0 or 1.
    return np.where(denominator > 0, levels, (z > 0).astype(np.float64))


def inverted_pvalue(
    draws: NDArray[np.float64], z0: NDArray[np.float64], acceleration: NDArray[np.float64], null: float = 0.0
) -> NDArray[np.float64]:
    """Two-sided p-value: 1 - the largest confidence whose interval (same method) still excludes `null`.

    With z0 = a = 0 this is twice the smaller bootstrap tail beyond `null`; with the BCa z0 and a it inverts the
    BCa interval, so `p < 1 - confidence` agrees with `null` lying outside that interval. Tails are smoothed by
    +1/2 and floored at 1 / (B + 1): B draws cannot support a smaller p-value.
    """
    b = draws.shape[1]
    below = (draws < null).sum(axis=1)
    equal = (draws == null).sum(axis=1)
    share = (below + 0.5 * equal + 0.5) / (b + 1)
    w = ndtri(share) - z0
    denominator = 1.0 + acceleration * w
    with np.errstate(divide="ignore", invalid="ignore"):
        z_alpha = w / denominator - z0
    p = 2.0 * ndtr(-np.abs(z_alpha))
    p = np.where(denominator > 0, p, 0.0)
    return np.clip(p, 1.0 / (b + 1), 1.0)
