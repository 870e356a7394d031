"""Cells with few discordant items are decided by an exact test, not by the bootstrap interval.

With under 10 discordant items Δ̂ takes only a handful of values and the bootstrap interval is too narrow: at
(4 a-only, 0 b-only, 200 items) the 95% percentile interval is [0.005, 0.040] (a win) while exact McNemar gives
p = 0.125. The exact sign-flip test (McNemar at item level, its cluster or seed-averaged analogue otherwise)
has the stated level at any size, so it decides those cells; the bootstrap interval is still reported.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Protocol, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import binom

from medadapt.stats.verdicts import verdicts_from_pvalue


class VerdictArrays(Protocol):
    """What the guard reads and replaces in a dataclass of per-cell results (BootstrapArrays is one)."""

    delta: Any
    p_value: Any
    verdict: list[Any]
    decided_by: list[str]
    p_value_test: list[str]


ArraysT = TypeVar("ArraysT", bound=VerdictArrays)

# Below this many discordant items (a right only + b right only) a cell is decided by the exact test.
MIN_DISCORDANT = 10


def needs_exact_test(n_discordant: int) -> bool:
    """Whether a cell with this many discordant items is decided by the exact test."""
    return n_discordant < MIN_DISCORDANT


def exact_mcnemar_pvalues(n_a_only: ArrayLike, n_b_only: ArrayLike) -> NDArray[np.float64]:
    """Exact two-sided McNemar p-values from discordant counts (vectorised; equals statsmodels' exact test)."""
    a, b = np.asarray(n_a_only, np.int64), np.asarray(n_b_only, np.int64)
    return np.minimum(1.0, 2.0 * binom.cdf(np.minimum(a, b), a + b, 0.5))


def exact_label(test: str, n_discordant: int) -> str:
    """The `decided_by` text of a cell decided by an exact test."""
    return f"{test} ({n_discordant} discordant < {MIN_DISCORDANT})"


def decide_small_cells(
    arrays: ArraysT,
    n_discordant: ArrayLike,
    exact_pvalue: ArrayLike,
    confidence: float,
    test: str,
    test_key: str,
) -> ArraysT:
    """Replace the verdict and p-value of cells with < MIN_DISCORDANT discordant items by the exact test's.

    test: the test's name as shown ("exact McNemar"); test_key: its `p_value_test` key ("mcnemar", "permutation").
    The verdict is win/loss iff the exact p < 1 - confidence (sign of Δ), so verdict and p-value agree.
    """
    discordant = np.atleast_1d(np.asarray(n_discordant, np.int64))
    small = discordant < MIN_DISCORDANT
    if not small.any():
        return arrays
    p_exact = np.atleast_1d(np.asarray(exact_pvalue, np.float64))
    p_value = np.where(small, p_exact, arrays.p_value)
    exact_verdicts = verdicts_from_pvalue(arrays.delta, p_exact, 1.0 - confidence)
    flags = small.tolist()
    return replace(
        arrays,
        p_value=p_value,
        verdict=[e if s else v for s, e, v in zip(flags, exact_verdicts, arrays.verdict, strict=True)],
        decided_by=[
            exact_label(test, int(k)) if s else d
            for s, k, d in zip(flags, discordant.tolist(), arrays.decided_by, strict=True)
        ],
        p_value_test=[test_key if s else t for s, t in zip(flags, arrays.p_value_test, strict=True)],
    )
