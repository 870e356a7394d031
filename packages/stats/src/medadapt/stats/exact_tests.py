"""Exact McNemar test and a paired sign-flip permutation test of Δaccuracy."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray
from scipy.stats import binom

from medadapt.stats.inputs import (
    Correctness,
    Groups,
    PairedCorrectness,
    paired_correctness,
    without_single_cluster,
)

# Sign-flip distributions are enumerated exactly up to this many distinct sums (|Σ| range); above, Monte Carlo.
EXACT_SUM_LIMIT = 1_000_000
_FLIP_BLOCK_ELEMENTS = 2**22


def mcnemar(correct_a: Correctness, correct_b: Correctness) -> float:
    """Exact (binomial) two-sided McNemar p-value for paired 0/1 correctness, via statsmodels."""
    return mcnemar_from_pair(paired_correctness(correct_a, correct_b))


def mcnemar_from_pair(pair: PairedCorrectness) -> float:
    """Exact McNemar p-value of validated pairs (1.0 when no item is discordant)."""
    from statsmodels.stats.contingency_tables import mcnemar as statsmodels_mcnemar

    a, b = pair.a.astype(bool), pair.b.astype(bool)
    table = np.array([[np.sum(a & b), np.sum(a & ~b)], [np.sum(~a & b), np.sum(~a & ~b)]])
    if table[0, 1] + table[1, 0] == 0:
        return 1.0
    return float(min(1.0, statsmodels_mcnemar(table, exact=True).pvalue))


@dataclass(frozen=True)
class PermutationResult:
    """Sign-flip permutation test of Δaccuracy: two-sided p-value and whether it was enumerated exactly."""

    delta: float
    p_value: float
    exact: bool
    n_flipped_units: int
    n_resamples: int | None
    notes: tuple[str, ...] = ()


def _unit_sums(pair: PairedCorrectness) -> NDArray[np.int64]:
    differences = pair.a.astype(np.int64) - pair.b.astype(np.int64)
    if pair.group_codes is None:
        return differences
    sums = np.zeros(int(pair.n_groups or 0), dtype=np.int64)
    np.add.at(sums, pair.group_codes, differences)
    return sums


def exact_sign_flip_pvalue(unit_sums: NDArray[np.int64]) -> float:
    """P(|Σ ε_u s_u| >= |Σ s_u|) over all 2^m sign vectors ε, by convolving per-magnitude binomials."""
    magnitudes = np.abs(unit_sums[unit_sums != 0])
    observed = abs(int(unit_sums.sum()))
    total = int(magnitudes.sum())
    pmf = np.zeros(2 * total + 1)
    pmf[total] = 1.0  # index = sum + total
    values, counts = np.unique(magnitudes, return_counts=True)
    for magnitude, count in zip(values.tolist(), counts.tolist(), strict=True):
        # `count` units of this magnitude contribute magnitude * (2j - count), j ~ Binomial(count, 1/2).
        j = np.arange(count + 1)
        step = np.zeros(2 * magnitude * count + 1)
        step[magnitude * 2 * j] = binom.pmf(j, count, 0.5)
        pmf = np.convolve(pmf, step)[magnitude * count : magnitude * count + 2 * total + 1]
    sums = np.arange(-total, total + 1)
    return float(min(1.0, pmf[np.abs(sums) >= observed].sum()))


def monte_carlo_sign_flip_pvalue(unit_sums: NDArray[np.int64], n_resamples: int, seed: int) -> float:
    """(1 + #{|T*| >= |T|}) / (1 + B) over random sign flips of the discordant units, drawn in blocks."""
    nonzero = unit_sums[unit_sums != 0]
    observed = abs(int(nonzero.sum()))
    rng = np.random.default_rng(seed)
    block = max(1, _FLIP_BLOCK_ELEMENTS // max(1, nonzero.size))
    extreme = 0
    for start in range(0, n_resamples, block):
        k = min(block, n_resamples - start)
        signs = rng.integers(0, 2, size=(k, nonzero.size), dtype=np.int8) * 2 - 1
        extreme += int((np.abs(signs @ nonzero) >= observed).sum())
    return (1 + extreme) / (1 + n_resamples)


def permutation_test(
    correct_a: Correctness,
    correct_b: Correctness,
    groups: Groups | None = None,
    n_resamples: int = 10_000,
    seed: int = 0,
    exact: bool | None = None,
) -> PermutationResult:
    """Paired permutation test of Δ: under H0 each discordant pair (or cluster difference) is equally likely ±.

    exact=None enumerates the sign-flip distribution exactly whenever it is small enough (always for item-level
    data up to a million items; then it equals exact McNemar), else draws `n_resamples` random flips.
    """
    pair, notes = without_single_cluster(paired_correctness(correct_a, correct_b, groups), "item-level test")
    result = permutation_from_pair(pair, n_resamples=n_resamples, seed=seed, exact=exact)
    return replace(result, notes=notes)


def permutation_from_pair(
    pair: PairedCorrectness, n_resamples: int = 10_000, seed: int = 0, exact: bool | None = None
) -> PermutationResult:
    """Permutation test of validated pairs (see `permutation_test`)."""
    sums = _unit_sums(pair)
    flipped = int((sums != 0).sum())
    delta = float(int(sums.sum()) / pair.n)
    use_exact = exact if exact is not None else int(np.abs(sums).sum()) <= EXACT_SUM_LIMIT
    if flipped == 0:
        return PermutationResult(delta=delta, p_value=1.0, exact=True, n_flipped_units=0, n_resamples=None)
    if use_exact:
        p = exact_sign_flip_pvalue(sums)
        return PermutationResult(
            delta=delta, p_value=p, exact=True, n_flipped_units=flipped, n_resamples=None
        )
    p = monte_carlo_sign_flip_pvalue(sums, n_resamples, seed)
    return PermutationResult(
        delta=delta, p_value=p, exact=False, n_flipped_units=flipped, n_resamples=n_resamples
    )


def named_test_pvalue(test: str, pair: PairedCorrectness, n_resamples: int = 10_000, seed: int = 0) -> float:
    """The p-value of a named non-bootstrap test ("mcnemar" or "permutation") for validated pairs."""
    if test == "mcnemar":
        if pair.group_codes is not None:
            raise ValueError(
                "test='mcnemar' assumes independent items but groups were given; use 'permutation' or 'bootstrap'"
            )
        return mcnemar_from_pair(pair)
    if test == "permutation":
        return permutation_from_pair(pair, n_resamples=n_resamples, seed=seed).p_value
    raise ValueError(f"test must be 'mcnemar' or 'permutation' here, got {test!r}")
