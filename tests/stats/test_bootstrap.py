"""Paired bootstrap: reproducible, exact under re-ordering and blocking, and equal to a plain index bootstrap."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats
from scipy.special import ndtr, ndtri

from medadapt.stats import VerdictRule, bootstrap_from_counts, paired_bootstrap, resampling


def _pair(n: int, pa: float, pb: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (rng.random(n) < pa).astype(int), (rng.random(n) < pb).astype(int)


def test_same_seed_same_numbers_other_seed_other_numbers() -> None:
    a, b = _pair(400, 0.6, 0.55, 1)
    assert paired_bootstrap(a, b, seed=3) == paired_bootstrap(a, b, seed=3)
    assert paired_bootstrap(a, b, seed=3).to_dict() != paired_bootstrap(a, b, seed=4).to_dict()


def test_item_order_does_not_matter() -> None:
    a, b = _pair(300, 0.6, 0.5, 2)
    order = np.random.default_rng(0).permutation(300)
    for method in ("percentile", "bca"):
        assert paired_bootstrap(a, b, method=method) == paired_bootstrap(a[order], b[order], method=method)


def test_blocking_does_not_change_the_draws(monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = _pair(300, 0.6, 0.5, 3)
    groups = np.arange(300) // 3
    whole = paired_bootstrap(a, b, n_resamples=3000, groups=groups, method="bca")
    monkeypatch.setattr(resampling, "BLOCK_ELEMENTS", 1000)
    assert paired_bootstrap(a, b, n_resamples=3000, groups=groups, method="bca") == whole


def test_counts_path_equals_item_path() -> None:
    a, b = _pair(500, 0.7, 0.6, 4)
    r = paired_bootstrap(a, b, method="bca", seed=9)
    arrays = bootstrap_from_counts(r.n_a_only, r.n_b_only, r.n, method="bca", seed=9)
    assert (arrays.ci_low[0], arrays.ci_high[0], arrays.p_value[0]) == (r.ci_low, r.ci_high, r.p_value)


def test_percentile_interval_matches_scipy_index_bootstrap() -> None:
    a, b = _pair(500, 0.62, 0.55, 5)
    d = (a - b).astype(float)
    ref = scipy_stats.bootstrap((d,), np.mean, n_resamples=40_000, method="percentile", random_state=1)
    ours = paired_bootstrap(a, b, n_resamples=40_000)
    assert ours.ci_low == pytest.approx(ref.confidence_interval.low, abs=0.004)
    assert ours.ci_high == pytest.approx(ref.confidence_interval.high, abs=0.004)
    assert ours.se == pytest.approx(ref.standard_error, rel=0.03)


def test_bca_matches_a_textbook_index_bootstrap_with_jackknife() -> None:
    a, b = _pair(200, 0.62, 0.5, 6)
    d = (a - b).astype(float)
    n, draws = d.size, 40_000
    rng = np.random.default_rng(2)
    boot = np.concatenate([d[rng.integers(0, n, size=(4000, n))].mean(axis=1) for _ in range(draws // 4000)])
    theta = d.mean()
    z0 = ndtri(((boot < theta).sum() + 0.5 * (boot == theta).sum()) / draws)
    jack = (d.sum() - d) / (n - 1)
    u = jack.mean() - jack
    acc = (u**3).sum() / (6 * ((u**2).sum()) ** 1.5)
    z = ndtri(np.array([0.025, 0.975]))
    levels = ndtr(z0 + (z0 + z) / (1 - acc * (z0 + z)))
    low, high = np.quantile(boot, levels)
    ours = paired_bootstrap(a, b, n_resamples=draws, method="bca")
    assert ours.acceleration == pytest.approx(acc, rel=1e-9)
    assert ours.bias_correction == pytest.approx(z0, abs=0.03)
    assert (ours.ci_low, ours.ci_high) == pytest.approx((low, high), abs=0.006)


def test_clustered_bootstrap_widens_interval_for_correlated_clusters() -> None:
    rng = np.random.default_rng(7)
    cluster_effect = np.repeat(rng.random(60) < 0.5, 10)  # items of one cluster tend to agree
    a = (cluster_effect | (rng.random(600) < 0.2)).astype(int)
    b = (rng.random(600) < 0.5).astype(int)
    groups = np.repeat(np.arange(60), 10)
    plain = paired_bootstrap(a, b)
    clustered = paired_bootstrap(a, b, groups=groups)
    assert clustered.delta == plain.delta
    assert clustered.n_groups == 60
    assert clustered.ci_high - clustered.ci_low > 1.5 * (plain.ci_high - plain.ci_low)


def test_verdicts_by_rule() -> None:
    strong_a, strong_b = _pair(1000, 0.8, 0.6, 8)
    assert paired_bootstrap(strong_a, strong_b).verdict == "win"
    assert paired_bootstrap(strong_b, strong_a).verdict == "loss"
    same = paired_bootstrap(strong_a, strong_a)
    assert (same.verdict, same.delta, same.ci_low, same.ci_high, same.p_value) == ("tie", 0.0, 0.0, 0.0, 1.0)
    by_p = paired_bootstrap(strong_a, strong_b, rule="pvalue")
    assert by_p.verdict == "win" and "bootstrap p >= 0.05" in by_p.rule
    mcnemar_rule = VerdictRule(kind="pvalue", test="mcnemar")
    assert paired_bootstrap(strong_a, strong_b, rule=mcnemar_rule).p_value_test == "mcnemar"
    assert "0 in the 95% percentile bootstrap CI" in paired_bootstrap(strong_a, strong_b).rule


def test_pvalue_agrees_with_interval_far_from_the_boundary() -> None:
    for seed in range(20):
        a, b = _pair(300, 0.6, 0.55, 100 + seed)
        for method in ("percentile", "bca"):
            r = paired_bootstrap(a, b, method=method, seed=seed)
            if min(abs(r.ci_low), abs(r.ci_high)) > 0.005:
                assert (r.verdict == "tie") == (r.p_value >= 0.05), r


def test_rule_confidence_must_match() -> None:
    with pytest.raises(ValueError, match=r"rule\.confidence"):
        paired_bootstrap([1, 0, 1], [0, 0, 1], confidence=0.9, rule=VerdictRule())
