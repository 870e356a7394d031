"""Validation: 95% intervals cover the true Δ on simulated paired binary data (issue 4's acceptance band).

Correlated pairs are drawn exactly from the 2×2 joint distribution with phi correlation 0.5, so the true Δ is
pa - pb. 10,000 simulations per case (Monte Carlo s.e. of a coverage near 95% is 0.22 points), 1,000 resamples
each, vectorised across simulations through `bootstrap_from_counts` (the path `paired_bootstrap` takes).

Known and reported, not hidden: at n = 50 the intervals under-cover when Δ ≠ 0. With correlation 0.5 only about
10 of 50 items are discordant, so Δ̂ takes about ten distinct values; even the exact (B = ∞) percentile
interval covers 93.4-94.4% in these designs (checked by enumerating the bootstrap distribution), and BCa's bias
correction on such discrete draws narrows it further (≈ 92-93%). Those cases are strict xfails with the measured
numbers, and a separate floor test keeps them from getting worse. At Δ = 0 (same accuracy) n = 50 covers 94-96%.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from medadapt.stats import bootstrap_from_counts
from medadapt.stats.bootstrap import Method, intervals_from_draws
from medadapt.stats.resampling import TableBatch, resample_statistics


def joint_cell_probabilities(pa: float, pb: float, rho: float) -> tuple[float, float, float, float]:
    """P(a right, b right), P(a only), P(b only), P(both wrong) for binary pairs with phi correlation rho."""
    both = pa * pb + rho * np.sqrt(pa * (1 - pa) * pb * (1 - pb))
    cells = (both, pa - both, pb - both, 1 - pa - pb + both)
    if min(cells) < 0:
        raise ValueError(f"correlation {rho} is not attainable with accuracies {pa}, {pb}")
    return cells


BOTH_METHODS: tuple[Method, ...] = ("percentile", "bca")


@cache
def coverage(
    n: int, pa: float, pb: float, rho: float = 0.5, sims: int = 2000, n_resamples: int = 1000, seed: int = 0
) -> dict[str, float]:
    """Share of `sims` simulated data sets whose percentile / BCa interval contains the true Δ = pa - pb.

    Mirrors `bootstrap_from_counts` but draws the resamples once for both methods.
    """
    _, a_only, b_only, _ = joint_cell_probabilities(pa, pb, rho)
    rng = np.random.default_rng([seed, n, int(pa * 1000), int(pb * 1000)])
    counts = rng.multinomial(n, [a_only, b_only, 1 - a_only - b_only], size=sims)
    orientation = np.sign(counts[:, 0] - counts[:, 1])
    batch = TableBatch.from_discordant_counts(counts[:, :2].max(axis=1), counts[:, :2].min(axis=1), n)
    draws = resample_statistics(batch, n_resamples, np.random.default_rng(seed))
    true_delta = pa - pb
    covered: dict[str, float] = {}
    for method in BOTH_METHODS:
        result = intervals_from_draws(batch, orientation, draws.copy(), 0.95, method)
        covered[method] = float(np.mean((result.ci_low <= true_delta) & (true_delta <= result.ci_high)))
    return covered


def test_coverage_helper_is_the_product_path() -> None:
    counts = np.random.default_rng(0).multinomial(50, [0.1, 0.12, 0.78], size=20)
    for method in BOTH_METHODS:
        product = bootstrap_from_counts(
            counts[:, 0], counts[:, 1], 50, n_resamples=300, method=method, seed=4
        )
        orientation = np.sign(counts[:, 0] - counts[:, 1])
        batch = TableBatch.from_discordant_counts(counts[:, :2].max(axis=1), counts[:, :2].min(axis=1), 50)
        draws = resample_statistics(batch, 300, np.random.default_rng(4))
        mirrored = intervals_from_draws(batch, orientation, draws, 0.95, method)
        np.testing.assert_array_equal(product.ci_low, mirrored.ci_low)
        np.testing.assert_array_equal(product.ci_high, mirrored.ci_high)


BAND = (0.935, 0.965)
SIMULATIONS = 10_000

_SMALL_N = (
    "n=50, Δ≠0: measured {value} with 10,000 simulations; ~10 discordant items make Δ̂ too discrete for a "
    "95% bootstrap interval (exact B=∞ percentile coverage here 93.4-94.4%)"
)

CASES = [
    pytest.param(500, 0.30, 0.35, "percentile", id="n500-acc0.3-percentile"),
    pytest.param(500, 0.30, 0.35, "bca", id="n500-acc0.3-bca"),
    pytest.param(500, 0.70, 0.65, "percentile", id="n500-acc0.7-percentile"),
    pytest.param(500, 0.70, 0.65, "bca", id="n500-acc0.7-bca"),
    pytest.param(50, 0.30, 0.35, "percentile", id="n50-acc0.3-percentile"),
    pytest.param(
        50,
        0.30,
        0.35,
        "bca",
        id="n50-acc0.3-bca",
        marks=pytest.mark.xfail(strict=True, reason=_SMALL_N.format(value="93.0%")),
    ),
    pytest.param(
        50,
        0.70,
        0.65,
        "percentile",
        id="n50-acc0.7-percentile",
        marks=pytest.mark.xfail(strict=True, reason=_SMALL_N.format(value="93.2%")),
    ),
    pytest.param(
        50,
        0.70,
        0.65,
        "bca",
        id="n50-acc0.7-bca",
        marks=pytest.mark.xfail(strict=True, reason=_SMALL_N.format(value="92.2%")),
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize(("n", "pa", "pb", "method"), CASES)
def test_coverage_within_band(n: int, pa: float, pb: float, method: Method) -> None:
    covered = coverage(n, pa, pb, sims=SIMULATIONS, seed=1)[method]
    assert BAND[0] <= covered <= BAND[1], (
        f"coverage {covered:.4f} outside {BAND} (n={n}, {pa} vs {pb}, {method})"
    )


@pytest.mark.slow
@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_small_n_coverage_does_not_get_worse(method: Method) -> None:
    covered = coverage(50, 0.70, 0.65, sims=SIMULATIONS, seed=1)[method]
    assert covered >= 0.915, f"n=50 {method} coverage fell to {covered:.4f} (was 92.2-93.2%)"


@pytest.mark.slow
def test_clustered_bootstrap_keeps_coverage_where_item_bootstrap_loses_it() -> None:
    """100 clusters of 5 items with a model-specific cluster effect: resampling clusters is needed for 95%."""
    from scipy.stats import norm

    from medadapt.stats import paired_bootstrap

    rng = np.random.default_rng(0)
    n_clusters, size, sims = 100, 5, 600
    groups = np.repeat(np.arange(n_clusters), size)
    true_delta = norm.sf(0.3 / np.sqrt(2.64)) - norm.sf(0.45 / np.sqrt(2.0))
    covered = {"clustered": 0, "items": 0}
    for s in range(sims):
        shared = np.repeat(rng.normal(0, 1.0, n_clusters), size)
        noise_a = rng.normal(0, 1, n_clusters * size)
        noise_b = 0.6 * noise_a + 0.8 * rng.normal(0, 1, n_clusters * size)
        a_only_effect = np.repeat(rng.normal(0, 0.8, n_clusters), size)
        a = (shared + a_only_effect + noise_a > 0.3).astype(int)
        b = (shared + noise_b > 0.45).astype(int)
        for key, g in (("clustered", groups), ("items", None)):
            r = paired_bootstrap(a, b, n_resamples=1000, seed=s, groups=g)
            covered[key] += int(r.ci_low <= true_delta <= r.ci_high)
    assert 0.935 <= covered["clustered"] / sims <= 0.965, covered
    assert covered["items"] / sims < 0.9, covered
