"""Families with corrections, seed aggregation and win/tie/loss rates."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

from medadapt.stats import VerdictRule, compare_family, compare_seeds, mcnemar, paired_bootstrap, win_tie_loss


def _cells(k: int, n: int = 300) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(11)
    cells = {}
    for i in range(k):
        shift = (i % 3 - 1) * 0.08
        cells[f"cell{i}"] = ((rng.random(n) < 0.6 + shift).astype(int), (rng.random(n) < 0.6).astype(int))
    return cells


def test_family_ci_rule_reports_holm_and_matches_single_cell_runs() -> None:
    cells = _cells(9)
    family = compare_family(cells, n_resamples=2000)
    raw = [c.p_value for c in family.cells]
    np.testing.assert_allclose([c.p_corrected for c in family.cells], multipletests(raw, method="holm")[1])
    first = family.cells[0]
    alone = paired_bootstrap(*cells["cell0"], n_resamples=2000, seed=first.result.seed)
    assert alone == first.result and first.verdict == first.result.verdict
    assert family.correction == "holm" and "0 in the 95% percentile" in family.rule
    assert set(family.verdicts.values()) <= {"win", "tie", "loss"}


def test_family_pvalue_rule_uses_corrected_mcnemar() -> None:
    cells = _cells(9)
    rule = VerdictRule(kind="pvalue", test="mcnemar", correction="fdr_bh")
    family = compare_family(cells, n_resamples=1000, rule=rule)
    raw = np.array([mcnemar(a, b) for a, b in cells.values()])
    corrected = multipletests(raw, method="fdr_bh")[1]
    np.testing.assert_allclose([c.p_corrected for c in family.cells], corrected)
    for cell, q in zip(family.cells, corrected, strict=True):
        expected = "tie" if q >= 0.05 else ("win" if cell.result.delta > 0 else "loss")
        assert cell.verdict == expected
    assert "fdr_bh-corrected mcnemar p >= 0.05" in family.rule


def test_family_groups_and_errors_name_the_cell() -> None:
    cells = _cells(2, n=60)
    family = compare_family(cells, n_resamples=500, groups={"cell1": np.arange(60) // 6})
    assert family.cells[1].result.n_groups == 10 and family.cells[0].result.n_groups is None
    with pytest.raises(ValueError, match=r"cell 'bad': correct_a has 3 items but correct_b has 2"):
        compare_family({"bad": ([1, 0, 1], [1, 0])})
    with pytest.raises(ValueError, match="test='mcnemar' assumes independent items"):
        compare_family(
            cells, groups={"cell0": np.arange(60) // 6}, rule=VerdictRule(kind="pvalue", test="mcnemar")
        )


def test_seeds_combined_is_mean_of_per_seed_deltas() -> None:
    rng = np.random.default_rng(5)
    a = [(rng.random(200) < 0.65).astype(int) for _ in range(4)]
    b = [(rng.random(200) < 0.55).astype(int) for _ in range(4)]
    result = compare_seeds(a, b, n_resamples=2000)
    assert len(result.per_seed) == 4
    assert result.combined.delta == pytest.approx(np.mean([r.delta for r in result.per_seed]), abs=1e-12)
    widths = [r.ci_high - r.ci_low for r in result.per_seed]
    assert result.combined.ci_high - result.combined.ci_low < min(widths)
    assert "over 4 seeds" in result.combined.rule
    swapped = compare_seeds(b, a, n_resamples=2000)
    assert (swapped.combined.ci_low, swapped.combined.ci_high) == (
        -result.combined.ci_high,
        -result.combined.ci_low,
    )


def test_seeds_with_id_mappings_in_any_order() -> None:
    ids = [f"q{i}" for i in range(50)]
    rng = np.random.default_rng(2)
    runs_a = [dict(zip(ids, (rng.random(50) < 0.6).astype(int), strict=True)) for _ in range(2)]
    runs_b = [dict(zip(ids, (rng.random(50) < 0.5).astype(int), strict=True)) for _ in range(2)]
    reordered = [runs_a[0], dict(reversed(list(runs_a[1].items())))]
    assert compare_seeds(reordered, runs_b, n_resamples=500) == compare_seeds(runs_a, runs_b, n_resamples=500)


def test_rates_wilson_and_bootstrap() -> None:
    verdicts = ["win"] * 8 + ["tie"] * 5 + ["loss"] * 17
    wilson = win_tie_loss(verdicts)
    assert wilson.counts == {"win": 8, "tie": 5, "loss": 17} and wilson.n == 30
    assert wilson.intervals["loss"] == pytest.approx(proportion_confint(17, 30, method="wilson"))
    boot = win_tie_loss(verdicts, method="bootstrap", seed=1)
    low, high = boot.intervals["win"]
    assert low < 8 / 30 < high and "bootstrap" in boot.method
    with pytest.raises(ValueError, match="verdicts must be one of"):
        win_tie_loss(["win", "draw"])


def test_results_serialise_to_json() -> None:
    import json

    from medadapt.stats import reliability

    family = compare_family(_cells(3), n_resamples=200)
    seeds = compare_seeds([[1, 0, 1, 1], [1, 1, 0, 1]], [[0, 0, 1, 1], [1, 0, 0, 1]], n_resamples=200)
    data = reliability(np.array([[0.7, 0.3], [0.4, 0.6]]), np.array([0, 0]))
    text = json.dumps(
        [family.to_dict(), seeds.to_dict(), win_tie_loss(family.cells).to_dict(), data.to_dict()]
    )
    assert json.loads(text)[0]["cells"][0]["result"]["rule"].startswith("tie iff 0")
