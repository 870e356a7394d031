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


def crossing_level(
    sorted_draws: NDArray[np.float64], n_on_left: NDArray[np.int64], null: float
) -> NDArray[np.float64]:
    """The quantile level at which the interpolated quantile function of each sorted row crosses `null`.

    `n_on_left` is the number of draws left of the crossing (draws <= null for the last level whose quantile is
    still <= null; draws < null for the first level whose quantile is >= null). Levels are on `row_quantiles`'s
    scale, so a quantile at level L lies beyond `null` exactly when L lies beyond the returned level.
    """
    b = sorted_draws.shape[1]
    inner = np.clip(n_on_left - 1, 0, b - 2)[:, None]
    below = np.take_along_axis(sorted_draws, inner, axis=1)[:, 0]
    above = np.take_along_axis(sorted_draws, inner + 1, axis=1)[:, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        position = inner[:, 0] + (null - below) / (above - below)
    level = position / (b - 1)
    return np.where(n_on_left <= 0, 0.0, np.where(n_on_left >= b, 1.0, level))


def _alpha_at_level(
    level: NDArray[np.float64], z0: NDArray[np.float64], acceleration: NDArray[np.float64], upper: bool
) -> NDArray[np.float64]:
    """The α whose interval (percentile: z0 = a = 0, else BCa) puts its lower/upper quantile level at `level`."""
    with np.errstate(divide="ignore", invalid="ignore"):  # levels 0 and 1 are replaced below
        w = ndtri(level) - z0
        denominator = 1.0 + acceleration * w
        z = w / denominator - z0
    alpha = 2.0 * ndtr(-z if upper else z)
    # A crossing at level 0 or 1, or beyond the pole of the BCa map (extreme acceleration only): that bound
    # excludes `null` at every confidence.
    return np.where((denominator > 0) & (level > 0.0) & (level < 1.0), alpha, 0.0)


def inverted_pvalue(
    sorted_draws: NDArray[np.float64],
    z0: NDArray[np.float64],
    acceleration: NDArray[np.float64],
    null: float = 0.0,
) -> NDArray[np.float64]:
    """Two-sided p-value: the α at which the (1 - α) interval of the same method has `null` on an endpoint.

    The interval is inverted exactly as `row_quantiles` computes it (linear interpolation between sorted draws),
    so for every α: p < α  ⇔  `null` lies outside the closed (1 - α) interval, and p >= α  ⇔  the interval
    contains it (an endpoint equal to `null` counts as inside: a tie). The CI rule and the p-value rule thus give
    the same verdict. Floored at 1 / (B + 1): B draws cannot support a smaller p-value.
    """
    b = sorted_draws.shape[1]
    at_or_below = (sorted_draws <= null).sum(axis=1)
    below = (sorted_draws < null).sum(axis=1)
    # The lower bound exceeds `null` iff its level is above the last level whose quantile is <= null.
    last_not_above = crossing_level(sorted_draws, at_or_below, null)
    alpha_low = np.where(
        at_or_below == 0,
        0.0,
        np.where(at_or_below >= b, np.inf, _alpha_at_level(last_not_above, z0, acceleration, upper=False)),
    )
    # The upper bound is below `null` iff its level is below the first level whose quantile is >= null.
    first_not_below = crossing_level(sorted_draws, below, null)
    alpha_high = np.where(
        below >= b,
        0.0,
        np.where(below == 0, np.inf, _alpha_at_level(first_not_below, z0, acceleration, upper=True)),
    )
    return np.clip(np.minimum(alpha_low, alpha_high), 1.0 / (b + 1), 1.0)
