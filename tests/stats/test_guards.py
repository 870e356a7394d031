"""Guards on verdicts (issue 13): exact McNemar for few discordant items, one rule for CI and p-value, no -0.0,
one-cluster data falling back to the item bootstrap, percentile by default."""

from __future__ import annotations

import inspect
import json
import math
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from medadapt.stats import (
    VerdictRule,
    bootstrap_from_counts,
    compare_family,
    compare_seeds,
    mcnemar,
    paired_bootstrap,
    permutation_test,
)

README = Path(__file__).resolve().parents[2] / "packages" / "stats" / "README.md"


def _items(n_a_only: int, n_b_only: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-item correctness with the given discordant counts (a right only first, then b right only)."""
    a, b = np.zeros(n, int), np.zeros(n, int)
    a[:n_a_only] = 1
    b[n_a_only : n_a_only + n_b_only] = 1
    a[n - n // 2 :] = b[n - n // 2 :] = 1  # concordant correct half
    return a, b


def test_few_discordant_items_are_decided_by_exact_mcnemar() -> None:
    arrays = bootstrap_from_counts(4, 0, 200)
    assert arrays.ci_low[0] > 0  # the interval alone would call a win ...
    assert arrays.verdict == ["tie"]  # ... exact McNemar (p = 0.125) does not
    assert arrays.p_value[0] == pytest.approx(0.125)
    assert arrays.decided_by == ["exact McNemar (4 discordant < 10)"]
    assert arrays.p_value_test == ["mcnemar"]
    a, b = _items(4, 0, 200)
    result = paired_bootstrap(a, b)
    assert (result.verdict, result.decided_by, result.p_value_test) == (
        "tie",
        arrays.decided_by[0],
        "mcnemar",
    )
    assert result.p_value == pytest.approx(mcnemar(a, b), rel=1e-12)
    assert paired_bootstrap(a, b, rule="pvalue").verdict == "tie"


def test_exact_test_still_calls_a_clear_win_and_large_cells_use_the_interval() -> None:
    clear = bootstrap_from_counts([9, 30], [0, 10], [200, 200])
    assert clear.verdict[0] == "win" and clear.decided_by[0] == "exact McNemar (9 discordant < 10)"
    assert clear.p_value[0] == pytest.approx(2 * 0.5**9)
    assert clear.decided_by[1] == "interval" and clear.p_value_test[1] == "bootstrap"


def test_every_verdict_path_applies_the_guard() -> None:
    a, b = _items(4, 0, 200)
    family = compare_family({"small": (a, b), "large": _items(40, 5, 200)})
    small, large = family.cells
    assert (small.verdict, small.decided_by) == ("tie", "exact McNemar (4 discordant < 10)")
    assert small.p_value == pytest.approx(0.125)
    assert (large.verdict, large.decided_by) == ("win", "interval")
    by_p = compare_family({"small": (a, b)}, rule=VerdictRule(kind="pvalue"))
    assert by_p.cells[0].decided_by == "holm-corrected exact McNemar (4 discordant < 10)"
    assert by_p.cells[0].verdict == "tie"
    seeds = compare_seeds([a, a], [b, b])
    assert all(r.verdict == "tie" for r in seeds.per_seed)
    assert seeds.combined.decided_by == "exact sign-flip test over items (8 discordant < 10)"
    assert seeds.combined.p_value == pytest.approx(2 * 0.5**4)  # 4 items, each +2 or -2
    clustered = paired_bootstrap(a, b, groups=np.arange(200) // 2)
    assert clustered.decided_by == "exact sign-flip test over clusters (4 discordant < 10)"
    assert clustered.verdict == "tie" and clustered.p_value_test == "permutation"
    assert "exact test" in family.rule


def _consistent(arrays_verdict: str, p: float, alpha: float) -> bool:
    return (arrays_verdict == "tie") == (p >= alpha)


def test_ci_endpoint_exactly_zero_is_a_tie_for_both_rules() -> None:
    # 13 discordant items in 50: the lower 2.5% quantile of the draws is exactly 0.
    a, b = _items(10, 3, 50)
    by_ci = paired_bootstrap(a, b)
    by_p = paired_bootstrap(a, b, rule="pvalue")
    assert by_ci.ci_low == 0.0 and by_ci.decided_by == "interval"
    assert by_ci.verdict == "tie"
    assert by_ci.p_value >= 0.05  # was 0.047: the p-value rule called a win where the CI rule said tie
    assert by_p.verdict == "tie"


@pytest.mark.parametrize("method", ["percentile", "bca"])
@pytest.mark.parametrize("confidence", [0.95, 0.9])
def test_ci_rule_and_pvalue_rule_agree_on_every_cell(method: str, confidence: float) -> None:
    n = np.array([50, 100, 200])[:, None, None]
    a_only, b_only = np.meshgrid(np.arange(0, 30), np.arange(0, 12), indexing="ij")
    a_only, b_only, n = (x.ravel() for x in np.broadcast_arrays(a_only[None], b_only[None], n))
    arrays = bootstrap_from_counts(a_only, b_only, n, n_resamples=2000, confidence=confidence, method=method)  # type: ignore[arg-type]
    alpha = 1.0 - confidence
    for verdict, p, low, high in zip(
        arrays.verdict, arrays.p_value, arrays.ci_low, arrays.ci_high, strict=True
    ):
        assert _consistent(verdict, float(p), alpha), (verdict, p, low, high)
    interval_cells = [d == "interval" for d in arrays.decided_by]
    outside = (arrays.ci_low > 0) | (arrays.ci_high < 0)
    assert ((arrays.p_value < alpha) == outside)[interval_cells].all()


def test_no_negative_zero_anywhere() -> None:
    arrays = bootstrap_from_counts([0, 0, 0], [3, 0, 0], [200, 100, 100], method="bca")
    for name in ("delta", "ci_low", "ci_high", "bias_correction", "acceleration"):
        for value in getattr(arrays, name).tolist():
            assert math.copysign(1.0, value) == 1.0 or value != 0.0, (name, value)
    a = np.r_[np.zeros(3, int), np.ones(97, int)]
    b = np.ones(100, int)
    for result in (paired_bootstrap(a, b), paired_bootstrap(a, a), paired_bootstrap(b, a, method="bca")):
        text = json.dumps(result.to_dict())
        assert not re.search(r"-0\.0(?![0-9])", text), text
        assert f"{result.ci_high:+.3f}" != "-0.000" and f"{result.ci_low:+.3f}" != "-0.000"


def test_one_cluster_falls_back_to_the_item_bootstrap_and_says_so() -> None:
    a, b = _items(30, 5, 120)
    one = ["cardiology"] * 120
    clustered = paired_bootstrap(a, b, groups=one)
    plain = paired_bootstrap(a, b)
    assert clustered.notes == ("one cluster: item bootstrap used",)
    assert (clustered.ci_low, clustered.ci_high, clustered.verdict) == (
        plain.ci_low,
        plain.ci_high,
        plain.verdict,
    )
    assert clustered.n_groups is None and plain.notes == ()
    assert clustered.to_dict()["notes"] == ["one cluster: item bootstrap used"]
    family = compare_family({"task": (a, b)}, groups={"task": one})
    assert family.cells[0].result.notes == ("one cluster: item bootstrap used",)
    seeds = compare_seeds([a, a], [b, b], groups=one)
    assert {r.notes for r in (*seeds.per_seed, seeds.combined)} == {("one cluster: item bootstrap used",)}
    assert permutation_test(a, b, groups=one).notes == ("one cluster: item-level test used",)
    assert permutation_test(a, b, groups=one).p_value == pytest.approx(mcnemar(a, b))
    mcnemar_family = compare_family(
        {"task": (a, b)}, groups={"task": one}, rule=VerdictRule(kind="pvalue", test="mcnemar")
    )
    assert mcnemar_family.cells[0].p_value == pytest.approx(mcnemar(a, b))


def test_percentile_is_the_default_and_the_readme_says_why() -> None:
    from medadapt.stats.seeds import compare_seeds as seeds_function

    for function in (paired_bootstrap, bootstrap_from_counts, compare_family, seeds_function):
        assert inspect.signature(function).parameters["method"].default == "percentile", function
    text = README.read_text(encoding="utf-8")
    (example,) = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    assert "bca" not in example.lower()
    assert re.search(r"BCa.*(false win|false loss)", text, flags=re.DOTALL)
    assert "exact McNemar" in text and "decided_by" in text and "notes" in text


@pytest.mark.slow
@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_false_verdicts_near_the_ceiling_stay_at_the_level(method: str) -> None:
    """Equal accuracies near the ceiling (few discordant items): wins/losses are false, ≤ 5% + MC margin.

    Without the exact-test guard BCa called 9% of these cells a win or loss (percentile 4.6%)."""
    sys.path.insert(0, str(Path(__file__).parent))
    from test_coverage import joint_cell_probabilities

    for n, accuracy in ((100, 0.95), (200, 0.97)):
        _, a_only, b_only, _ = joint_cell_probabilities(accuracy, accuracy, 0.5)
        counts = np.random.default_rng(n).multinomial(n, [a_only, b_only, 1 - a_only - b_only], size=3000)
        arrays = bootstrap_from_counts(counts[:, 0], counts[:, 1], n, n_resamples=1000, method=method)  # type: ignore[arg-type]
        false_rate = float(np.mean(np.array(arrays.verdict) != "tie"))
        assert false_rate <= 0.062, f"n={n} accuracy={accuracy} {method}: {false_rate:.3f} false wins/losses"
