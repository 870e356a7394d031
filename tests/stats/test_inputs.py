"""Input checks: every mistake is a ValueError that names what was wrong."""

from __future__ import annotations

import numpy as np
import pytest

from medadapt.stats import compare_seeds, mcnemar, paired_bootstrap, permutation_test


def test_unequal_lengths_name_both_counts() -> None:
    with pytest.raises(ValueError, match=r"correct_a has 5 items but correct_b has 4"):
        paired_bootstrap([1, 0, 1, 1, 0], [1, 0, 1, 1])


@pytest.mark.parametrize("bad", [0.5, 2, -1, np.nan])
def test_non_binary_names_item_and_value(bad: float) -> None:
    values = [1.0, 0.0, bad, 1.0]
    with pytest.raises(ValueError, match=r"correct_b must be binary correctness .*item 2"):
        paired_bootstrap([1, 0, 1, 1], values)


def test_non_binary_in_mapping_names_item_id() -> None:
    with pytest.raises(ValueError, match=r"item 1 \(id 'q2'\) is 3"):
        mcnemar({"q1": 1, "q2": 1}, {"q1": 0, "q2": 3})


def test_strings_are_rejected_with_dtype() -> None:
    with pytest.raises(ValueError, match=r"correct_a must hold 0/1 or booleans"):
        paired_bootstrap(["yes", "no"], [1, 0])


def test_mismatched_ids_are_named_on_both_sides() -> None:
    a = {"q1": 1, "q2": 0, "q3": 1}
    b = {"q1": 1, "q2": 0, "q4": 1}
    with pytest.raises(
        ValueError, match=r"1 only in correct_a \(e.g. \['q3'\]\), 1 only in correct_b \(e.g. \['q4'\]\)"
    ):
        paired_bootstrap(a, b)


def test_mappings_align_by_id_whatever_the_order() -> None:
    a = {"q1": 1, "q2": 0, "q3": 1, "q4": 1}
    b = {"q4": 0, "q3": 1, "q2": 0, "q1": 1}
    result = paired_bootstrap(a, b, n_resamples=200)
    assert (result.n_a_only, result.n_b_only) == (1, 0)


def test_mapping_and_sequence_cannot_be_mixed() -> None:
    with pytest.raises(ValueError, match=r"correct_a is a mapping but correct_b is a sequence"):
        paired_bootstrap({"q1": 1}, [1])


def test_empty_and_two_dimensional_inputs() -> None:
    with pytest.raises(ValueError, match="empty"):
        paired_bootstrap([], [])
    with pytest.raises(ValueError, match="one-dimensional"):
        paired_bootstrap([[1, 0]], [[1, 0]])


def test_group_checks() -> None:
    with pytest.raises(ValueError, match=r"groups has 3 entries but there are 4 paired items"):
        paired_bootstrap([1, 0, 1, 1], [1, 1, 0, 1], groups=["x", "x", "y"])
    with pytest.raises(ValueError, match=r"no group for 1 item ids"):
        permutation_test({"q1": 1, "q2": 0}, {"q1": 0, "q2": 0}, groups={"q1": "img1"})


def test_bad_options() -> None:
    with pytest.raises(ValueError, match="method must be one of"):
        paired_bootstrap([1, 0], [0, 1], method="basic")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="confidence must lie in"):
        paired_bootstrap([1, 0], [0, 1], confidence=95)
    with pytest.raises(ValueError, match="n_resamples must be an integer >= 100"):
        paired_bootstrap([1, 0], [0, 1], n_resamples=10)


def test_seeds_must_pair_and_share_items() -> None:
    with pytest.raises(ValueError, match=r"correct_a has 2 seeds but correct_b has 1"):
        compare_seeds([[1, 0], [1, 1]], [[0, 1]])
    with pytest.raises(ValueError, match=r"seed 1 scores 3 items but seed 0 scores 2"):
        compare_seeds([[1, 0], [1, 1, 0]], [[0, 1], [0, 1, 1]])
    with pytest.raises(ValueError, match=r"seed 1: correct_a has 2 items but correct_b has 3"):
        compare_seeds([[1, 0], [1, 1]], [[0, 1], [0, 1, 1]])


def test_public_names_resolve() -> None:
    import medadapt.stats as stats

    for name in stats.__all__:
        assert getattr(stats, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        stats.missing  # noqa: B018


def test_one_item_is_too_few_to_bootstrap() -> None:
    with pytest.raises(ValueError, match=r"at least 2 items, got n_items=1"):
        paired_bootstrap([1], [0])


def test_importing_the_bootstrap_loads_neither_statsmodels_nor_matplotlib() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from medadapt.stats import paired_bootstrap; paired_bootstrap([1, 0, 1], [0, 0, 1], n_resamples=100);"
        "print(sorted(m for m in ('statsmodels', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
