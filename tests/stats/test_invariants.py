"""Property tests: swapping a and b mirrors every number and flips the verdict; item order never matters."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from medadapt.stats import mcnemar, paired_bootstrap, permutation_test
from medadapt.stats.verdicts import flip

pairs = st.integers(min_value=2, max_value=120).flatmap(
    lambda n: st.tuples(
        st.lists(st.booleans(), min_size=n, max_size=n),
        st.lists(st.booleans(), min_size=n, max_size=n),
        st.sampled_from(["percentile", "bca"]),
        st.integers(min_value=0, max_value=2**31 - 1),
    )
)


@settings(max_examples=60, deadline=None)
@given(pairs)
def test_swap_mirrors_result(case: tuple[list[bool], list[bool], str, int]) -> None:
    a, b, method, seed = case
    forward = paired_bootstrap(a, b, n_resamples=500, method=method, seed=seed)  # type: ignore[arg-type]
    backward = paired_bootstrap(b, a, n_resamples=500, method=method, seed=seed)  # type: ignore[arg-type]
    assert backward.delta == -forward.delta
    assert (backward.ci_low, backward.ci_high) == (-forward.ci_high, -forward.ci_low)
    assert backward.p_value == forward.p_value
    assert backward.verdict == flip(forward.verdict)
    assert mcnemar(a, b) == mcnemar(b, a)
    assert permutation_test(a, b).p_value == permutation_test(b, a).p_value


@settings(max_examples=30, deadline=None)
@given(pairs, st.randoms(use_true_random=False))
def test_clustered_swap_and_reorder(case: tuple[list[bool], list[bool], str, int], random: object) -> None:
    a, b, method, seed = case
    n = len(a)
    groups = [i % max(2, n // 3) for i in range(n)]
    forward = paired_bootstrap(a, b, n_resamples=500, method=method, seed=seed, groups=groups)  # type: ignore[arg-type]
    backward = paired_bootstrap(b, a, n_resamples=500, method=method, seed=seed, groups=groups)  # type: ignore[arg-type]
    assert (backward.delta, backward.ci_low, backward.ci_high) == (
        -forward.delta,
        -forward.ci_high,
        -forward.ci_low,
    )
    assert backward.verdict == flip(forward.verdict)
    order = np.random.default_rng(seed).permutation(n)
    shuffled = paired_bootstrap(
        np.array(a)[order],
        np.array(b)[order],
        n_resamples=500,
        method=method,  # type: ignore[arg-type]
        seed=seed,
        groups=np.array(groups)[order],
    )
    assert (shuffled.delta, shuffled.ci_low, shuffled.ci_high) == (
        forward.delta,
        forward.ci_low,
        forward.ci_high,
    )
