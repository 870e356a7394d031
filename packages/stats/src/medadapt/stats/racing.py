"""A confidence-bound race between candidates scored on the same items: drop those confidently worse than the leader.

Prompt selection scores every candidate on every validation item and keeps the best. Most candidates are clearly
worse after a fraction of the items, so a race scores all survivors block by block (blocks grow geometrically) and
drops a candidate once an exact test on its paired disagreements with the current leader says it is worse *on all
the race's items* (the set exhaustive selection would score), at a level split (Bonferroni) over every test the
race may run. The items seen so far are a uniformly random subset of that finite set when the items come in random
order, so the test is hypergeometric, not binomial: it knows how few items are left to close a gap. Among the
survivors the winner rule is the exhaustive one (highest accuracy; ties keep the earliest candidate), so the race
picks the exhaustive winner unless it dropped it, which happens with probability at most `alpha`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.stats import hypergeom

__all__ = ["CandidateRace", "RaceResult", "RaceSchedule", "block_ends", "race", "worse_on_all_items"]

ScoreBlock = Callable[[int, int, int], Sequence[bool] | NDArray[np.bool_]]
"""score(candidate, start, stop) -> correctness of items start..stop-1 of the shared item order."""


@dataclass(frozen=True)
class RaceSchedule:
    """Block sizes and the error allowed for dropping a candidate that is in fact at least as good as the leader."""

    first_block: int = 32
    growth: float = 1.25
    alpha: float = 0.05
    align: int = 1

    def __post_init__(self) -> None:
        if self.first_block < 1:
            raise ValueError(f"first_block must be >= 1, got {self.first_block}")
        if self.growth < 1.0:
            raise ValueError(f"growth must be >= 1, got {self.growth}")
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha}")
        if self.align < 1:
            raise ValueError(f"align must be >= 1, got {self.align}")


def block_ends(n_items: int, schedule: RaceSchedule) -> list[int]:
    """Cumulative item counts after each block; each end is a multiple of `align` (batches stay whole) or n_items."""
    if n_items < 1:
        raise ValueError(f"a race needs at least one item, got {n_items}")
    ends: list[int] = []
    size = float(schedule.first_block)
    end = 0
    while end < n_items:
        step = max(schedule.align, round(size / schedule.align) * schedule.align)
        end = min(n_items, end + step)
        ends.append(end)
        size *= schedule.growth
    return ends


@dataclass(frozen=True)
class CandidateRace:
    """One candidate's part in the race: how far it got and why it stopped."""

    index: int
    items_scored: int
    correct: int
    dropped_after: int | None
    dropped_by: int | None
    p_value: float | None

    @property
    def accuracy(self) -> float:
        return self.correct / self.items_scored if self.items_scored else 0.0


@dataclass(frozen=True)
class RaceResult:
    """The chosen candidate and the evidence: per candidate items scored, accuracy and when it was dropped."""

    chosen: int
    candidates: tuple[CandidateRace, ...]
    block_ends: tuple[int, ...]
    n_items: int
    alpha: float

    @property
    def items_scored(self) -> int:
        """Prompts scored in the race (one per candidate and item)."""
        return sum(c.items_scored for c in self.candidates)

    @property
    def exhaustive_items(self) -> int:
        """Prompts exhaustive selection scores."""
        return len(self.candidates) * self.n_items

    def to_dict(self) -> dict[str, Any]:
        """Plain data for run stores and reports."""
        return {
            "chosen": self.chosen,
            "candidates": [{**asdict(c), "accuracy": c.accuracy} for c in self.candidates],
            "block_ends": list(self.block_ends),
            "n_items": self.n_items,
            "alpha": self.alpha,
            "items_scored": self.items_scored,
            "exhaustive_items": self.exhaustive_items,
        }


def best_index(accuracies: Sequence[float], among: Sequence[int]) -> int:
    """The winner rule of exhaustive selection: highest accuracy, ties keep the earliest candidate."""
    best = among[0]
    for index in among:
        if accuracies[index] > accuracies[best]:
            best = index
    return best


def worse_on_all_items(leader_only: int, other_only: int, unseen: int) -> float:
    """P-value of "the other candidate is at least as accurate as the leader on all items", from the items seen.

    `leader_only` / `other_only` count the seen items only one of the two got right; `unseen` items are left. If
    the whole set has a items only the leader gets right and b only the other does (the null: a <= b), the
    leader's share among the seen disagreements is hypergeometric (a + b items, a of them the leader's, as many
    drawn as were seen). The p-value is its upper tail at the observed count, maximised over every (a, b) that the
    null and the counts so far allow. For each total a + b the worst null is the most even split, and the tail
    grows with the total (towards the binomial sign test, its limit for unlimited items, which it never exceeds),
    so the maximum is at one of the two largest totals (tests/stats/test_racing.py checks this against the full
    search). It is 0 when the unseen items cannot close the gap.
    """
    if min(leader_only, other_only, unseen) < 0:
        raise ValueError(f"counts must be >= 0, got {leader_only}, {other_only}, {unseen}")
    if leader_only <= other_only:
        return 1.0  # the leader is not ahead: nothing to reject (a p-value of at least 1/2 in any case)
    seen = leader_only + other_only
    if leader_only - other_only > unseen:
        return 0.0
    largest = seen + unseen
    totals = np.array([t for t in (largest - 1, largest) if t >= seen and t // 2 >= leader_only])
    tails = hypergeom.sf(leader_only - 1, totals, totals // 2, seen)
    return float(np.clip(tails.max(), 0.0, 1.0))


def race(score: ScoreBlock, n_candidates: int, n_items: int, schedule: RaceSchedule | None = None) -> RaceResult:
    """Race `n_candidates` over `n_items` items in order; return the winner among the survivors and the evidence.

    The bound on dropping the exhaustive winner holds when the item order is random: shuffle items that come
    sorted (by topic, source, difficulty) before racing them."""
    schedule = schedule or RaceSchedule()
    if n_candidates < 1:
        raise ValueError(f"a race needs at least one candidate, got {n_candidates}")
    ends = block_ends(n_items, schedule)
    # Every (round, candidate) test that could run shares alpha: dropping the true best stays rarer than alpha.
    level = schedule.alpha / max(1, (n_candidates - 1) * max(1, len(ends) - 1))
    correct = np.zeros((n_candidates, n_items), dtype=bool)
    scored = np.zeros(n_candidates, dtype=np.int64)
    dropped: dict[int, tuple[int, int, float]] = {}
    alive = list(range(n_candidates))
    start = 0
    for end in ends:
        for candidate in alive:
            block = np.asarray(score(candidate, start, end), dtype=bool)
            if block.shape != (end - start,):
                raise ValueError(
                    f"score({candidate}, {start}, {end}) returned {block.shape[0] if block.ndim else 0} values, "
                    f"expected {end - start}"
                )
            correct[candidate, start:end] = block
            scored[candidate] = end
        start = end
        if end == n_items or len(alive) == 1:
            break
        alive = _survivors(correct[:, :end], alive, level, n_items - end, dropped)
        if len(alive) == 1:
            break
    accuracies = [correct[c, : scored[c]].mean() if scored[c] else 0.0 for c in range(n_candidates)]
    chosen = best_index(accuracies, alive)
    candidates = tuple(
        CandidateRace(
            index=c,
            items_scored=int(scored[c]),
            correct=int(correct[c, : scored[c]].sum()),
            dropped_after=dropped[c][0] if c in dropped else None,
            dropped_by=dropped[c][1] if c in dropped else None,
            p_value=dropped[c][2] if c in dropped else None,
        )
        for c in range(n_candidates)
    )
    return RaceResult(chosen, candidates, tuple(ends), n_items, schedule.alpha)


def _survivors(
    correct: NDArray[np.bool_], alive: list[int], level: float, unseen: int, dropped: dict[int, tuple[int, int, float]]
) -> list[int]:
    """Drop every candidate that the exact test finds worse than the leader on all items, from those seen so far."""
    accuracies = correct.mean(axis=1)
    leader = best_index(list(accuracies), alive)
    keep = []
    for candidate in alive:
        if candidate == leader:
            keep.append(candidate)
            continue
        leader_only = int(np.sum(correct[leader] & ~correct[candidate]))
        other_only = int(np.sum(correct[candidate] & ~correct[leader]))
        p = worse_on_all_items(leader_only, other_only, unseen)
        if p < level:
            dropped[candidate] = (correct.shape[1], leader, p)
        else:
            keep.append(candidate)
    return keep
