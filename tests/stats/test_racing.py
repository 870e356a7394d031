"""The confidence-bound race: exhaustive winner rule among survivors, blocks scored once, bounded false drops, and
the finite-set test it drops candidates with (exact level, never weaker than the sign test)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binom

from medadapt.stats.racing import RaceSchedule, block_ends, race, worse_on_all_items


def _scorer(matrix: np.ndarray, calls: list[tuple[int, int, int]] | None = None):
    def score(candidate: int, start: int, stop: int) -> np.ndarray:
        if calls is not None:
            calls.append((candidate, start, stop))
        return matrix[candidate, start:stop]

    return score


def _exhaustive_winner(matrix: np.ndarray) -> int:
    accuracies = matrix.mean(axis=1)
    return int(np.flatnonzero(accuracies == accuracies.max())[0])


def test_block_ends_grow_and_stay_aligned_to_batches() -> None:
    ends = block_ends(500, RaceSchedule(first_block=32, growth=2.0, align=8))
    assert ends == [32, 96, 224, 480, 500]
    assert all(end % 8 == 0 for end in ends[:-1])


def test_identical_candidates_are_never_dropped_and_the_first_wins() -> None:
    matrix = np.tile(np.random.default_rng(0).random(200) < 0.6, (5, 1))
    result = race(_scorer(matrix), 5, 200)
    assert result.chosen == 0
    assert all(c.dropped_after is None and c.items_scored == 200 for c in result.candidates)
    assert result.items_scored == result.exhaustive_items


def test_clearly_worse_candidates_drop_early_and_the_race_is_cheaper() -> None:
    rng = np.random.default_rng(1)
    good = rng.random(400) < 0.8
    matrix = np.vstack([good] + [rng.random(400) < 0.3 for _ in range(10)])
    result = race(_scorer(matrix), 11, 400, RaceSchedule(first_block=40))
    assert result.chosen == 0
    assert result.items_scored <= result.exhaustive_items / 3
    dropped = [c for c in result.candidates if c.dropped_after is not None]
    assert len(dropped) == 10 and all(c.dropped_by == 0 and c.p_value is not None for c in dropped)


def test_every_item_of_a_candidate_is_scored_once_in_order() -> None:
    rng = np.random.default_rng(2)
    matrix = rng.random((6, 300)) < rng.uniform(0.2, 0.8, size=(6, 1))
    calls: list[tuple[int, int, int]] = []
    result = race(_scorer(matrix, calls), 6, 300, RaceSchedule(first_block=25))
    for candidate in range(6):
        spans = [(start, stop) for c, start, stop in calls if c == candidate]
        assert spans[0][0] == 0
        assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))
        assert spans[-1][1] == result.candidates[candidate].items_scored


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    n_candidates=st.integers(1, 12),
    n_items=st.integers(1, 300),
    first_block=st.integers(1, 64),
)
def test_winner_is_the_exhaustive_rule_among_survivors(seed: int, n_candidates: int, n_items: int, first_block: int) -> None:
    rng = np.random.default_rng(seed)
    matrix = rng.random((n_candidates, n_items)) < rng.uniform(0.1, 0.9, size=(n_candidates, 1))
    result = race(_scorer(matrix), n_candidates, n_items, RaceSchedule(first_block=first_block))
    survivors = [c.index for c in result.candidates if c.dropped_after is None]
    assert result.chosen in survivors
    if all(result.candidates[c].items_scored == n_items for c in survivors):
        accuracies = matrix[survivors].mean(axis=1)
        assert result.chosen == survivors[int(np.flatnonzero(accuracies == accuracies.max())[0])]
    if len(survivors) == n_candidates:
        assert result.chosen == _exhaustive_winner(matrix)


def test_the_exhaustive_winner_is_dropped_less_often_than_alpha() -> None:
    """Near-equal candidates in random item orders: any drop of the exhaustive winner (on all items) is a false
    drop, and the error split keeps those under alpha."""
    rng = np.random.default_rng(3)
    false_drops = 0
    runs = 300
    for _ in range(runs):
        matrix = rng.random((11, 200)) < 0.5
        winner = _exhaustive_winner(matrix)
        result = race(_scorer(matrix), 11, 200, RaceSchedule(first_block=20, alpha=0.05))
        false_drops += result.candidates[winner].dropped_after is not None
    assert false_drops / runs <= 0.05


def _drop_chance(leader_total: int, other_total: int, n_items: int, seen: int, level: float) -> float:
    """Exact chance that `seen` random items of a set with these only-leader / only-other counts give p <= level."""
    concordant = n_items - leader_total - other_total
    total = 0.0
    for x in range(min(leader_total, seen) + 1):
        for y in range(min(other_total, seen - x) + 1):
            z = seen - x - y
            if z > concordant:
                continue
            if worse_on_all_items(x, y, n_items - seen) <= level:
                total += _choose(leader_total, x) * _choose(other_total, y) * _choose(concordant, z)
    return total / _choose(n_items, seen)


def _choose(n: int, k: int) -> float:
    from math import comb

    return float(comb(n, k))


@pytest.mark.parametrize("level", [0.01, 0.05, 0.2])
def test_the_finite_set_test_has_its_level_under_every_null(level: float) -> None:
    """Exact over every finite set of 14 items where the other candidate is at least as accurate as the leader,
    and every number of items seen: the chance of a p-value at or below the level never exceeds it."""
    n_items = 14
    worst = 0.0
    for leader_total in range(n_items + 1):
        for other_total in range(leader_total, n_items - leader_total + 1):
            for seen in range(1, n_items):
                worst = max(worst, _drop_chance(leader_total, other_total, n_items, seen, level))
    assert worst <= level + 1e-12


@settings(max_examples=200, deadline=None)
@given(leader_only=st.integers(0, 60), other_only=st.integers(0, 60), unseen=st.integers(0, 400))
def test_the_finite_set_test_is_never_weaker_than_the_sign_test(leader_only: int, other_only: int, unseen: int) -> None:
    p = worse_on_all_items(leader_only, other_only, unseen)
    assert 0.0 <= p <= 1.0
    if leader_only > other_only:
        assert p <= binom.sf(leader_only - 1, leader_only + other_only, 0.5) + 1e-12


def _worse_by_full_search(leader_only: int, other_only: int, unseen: int) -> float:
    """Reference: the tail maximised over every total number of disagreements the null and the counts allow."""
    from scipy.stats import hypergeom

    seen = leader_only + other_only
    tails = [
        hypergeom.sf(leader_only - 1, total, total // 2, seen)
        for total in range(seen, seen + unseen + 1)
        if total // 2 >= leader_only and total - total // 2 >= other_only
    ]
    return max(tails, default=0.0)


@settings(max_examples=300, deadline=None)
@given(other_only=st.integers(0, 40), lead=st.integers(1, 30), unseen=st.integers(0, 120))
def test_the_finite_set_test_takes_the_maximum_over_every_null(other_only: int, lead: int, unseen: int) -> None:
    leader_only = other_only + lead
    assert worse_on_all_items(leader_only, other_only, unseen) == pytest.approx(
        _worse_by_full_search(leader_only, other_only, unseen), abs=1e-12
    )


def test_the_finite_set_test_knows_when_a_gap_cannot_close() -> None:
    assert worse_on_all_items(9, 2, 6) == 0.0  # 7 ahead with 6 items left: the other cannot even tie
    assert worse_on_all_items(9, 2, 7) > 0.0  # it can tie, and a tie may go its way
    assert worse_on_all_items(0, 0, 50) == 1.0
    assert worse_on_all_items(5, 0, 10**6) == pytest.approx(0.5**5, rel=1e-3)  # unlimited items: the sign test
    with pytest.raises(ValueError, match="counts"):
        worse_on_all_items(1, -1, 3)


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="first_block"):
        RaceSchedule(first_block=0)
    with pytest.raises(ValueError, match="expected 10"):
        race(lambda c, a, b: np.zeros(3, dtype=bool), 2, 10, RaceSchedule(first_block=10))
