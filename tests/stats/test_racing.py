"""The confidence-bound race: exhaustive winner rule among survivors, blocks scored once, bounded false drops."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from medadapt.stats.racing import RaceSchedule, block_ends, race, sign_test_worse


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


def test_the_true_best_is_dropped_less_often_than_alpha() -> None:
    """Equal true accuracies: any drop of candidate 0 is a false drop; the error split keeps it under alpha."""
    rng = np.random.default_rng(3)
    false_drops = 0
    runs = 300
    for _ in range(runs):
        matrix = rng.random((11, 200)) < 0.5
        result = race(_scorer(matrix), 11, 200, RaceSchedule(first_block=20, alpha=0.05))
        false_drops += result.candidates[0].dropped_after is not None
    assert false_drops / runs <= 0.05


def test_sign_test_matches_the_binomial_tail() -> None:
    assert sign_test_worse(0, 0) == 1.0
    assert sign_test_worse(5, 0) == pytest.approx(0.5**5)
    assert sign_test_worse(3, 3) > 0.5


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="first_block"):
        RaceSchedule(first_block=0)
    with pytest.raises(ValueError, match="expected 10"):
        race(lambda c, a, b: np.zeros(3, dtype=bool), 2, 10, RaceSchedule(first_block=10))
