"""Exact McNemar equals scipy's binomial test; the sign-flip permutation test is exact and agrees with it."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.stats import binomtest

from medadapt.stats import mcnemar, permutation_test
from medadapt.stats.exact_tests import exact_sign_flip_pvalue, monte_carlo_sign_flip_pvalue


def _discordant(n11: int, a_only: int, b_only: int, n00: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    a = np.array([1] * n11 + [1] * a_only + [0] * b_only + [0] * n00)
    b = np.array([1] * n11 + [0] * a_only + [1] * b_only + [0] * n00)
    order = np.random.default_rng(seed).permutation(a.size)
    return a[order], b[order]


@pytest.mark.parametrize("seed", range(40))
def test_mcnemar_equals_binomtest_on_discordant_counts(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a_only, b_only = int(rng.integers(0, 60)), int(rng.integers(0, 60))
    if a_only + b_only == 0:
        a_only = 1
    a, b = _discordant(int(rng.integers(0, 50)), a_only, b_only, int(rng.integers(0, 50)), seed)
    expected = binomtest(a_only, a_only + b_only, 0.5).pvalue
    assert mcnemar(a, b) == pytest.approx(expected, rel=1e-12, abs=1e-300)


def test_mcnemar_without_discordant_items_is_one() -> None:
    assert mcnemar([1, 0, 1], [1, 0, 1]) == 1.0


def test_item_level_permutation_is_exact_mcnemar() -> None:
    a, b = _discordant(30, 17, 6, 40, 1)
    result = permutation_test(a, b)
    assert result.exact and result.n_flipped_units == 23
    assert result.p_value == pytest.approx(mcnemar(a, b), rel=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_exact_sign_flip_equals_brute_force_enumeration(seed: int) -> None:
    sums = np.random.default_rng(seed).integers(-3, 4, size=12)
    observed = abs(sums.sum())
    flips = np.array(list(itertools.product([-1, 1], repeat=sums.size)))
    brute = float(np.mean(np.abs(flips @ sums) >= observed))
    assert exact_sign_flip_pvalue(sums) == pytest.approx(brute, rel=1e-12)


def test_monte_carlo_close_to_exact_for_clusters() -> None:
    rng = np.random.default_rng(3)
    a = (rng.random(400) < 0.62).astype(int)
    b = (rng.random(400) < 0.5).astype(int)
    groups = np.arange(400) // 5
    exact = permutation_test(a, b, groups=groups)
    sampled = permutation_test(a, b, groups=groups, exact=False, n_resamples=20_000)
    assert exact.exact and not sampled.exact
    assert sampled.p_value == pytest.approx(exact.p_value, abs=0.01)


def test_monte_carlo_floor_and_identical_models() -> None:
    assert permutation_test([1, 0, 1], [1, 0, 1]).p_value == 1.0
    p = monte_carlo_sign_flip_pvalue(np.ones(200, dtype=np.int64), 999, 0)
    assert p == pytest.approx(1 / 1000)
