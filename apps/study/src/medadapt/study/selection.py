"""Prompt selection on validation: every candidate on every item (the study's way), or a race that drops candidates
confidently worse than the leader on all items (docs/protocol.md#racing-selection) and keeps the same winner rule."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from medadapt.study.candidates import PromptChoice, select_best
from medadapt.study.config import PromptSelection

ScoreCandidate = Callable[[PromptChoice, int, int], tuple[str, list[bool]]]
"""score(choice, start, stop) -> (run key, correctness of validation items start..stop-1); `start` is a multiple of
the batch size, so batches are the same slices as in one call over every item."""


@dataclass(frozen=True)
class SelectionOutcome:
    """The chosen candidate, each candidate's evidence, and what the selection cost in scored prompts."""

    chosen: int
    candidates: list[dict[str, Any]]
    strategy: str
    prompts_scored: int
    exhaustive_prompts: int

    def summary(self, chosen_label: str) -> dict[str, Any]:
        """The part of a plan entry that the report's prompt-selection table reads."""
        return {
            "strategy": self.strategy,
            "candidates": len(self.candidates),
            "prompts_scored": self.prompts_scored,
            "exhaustive_prompts": self.exhaustive_prompts,
            "chosen": chosen_label,
        }


def validation_order(items: Sequence[Any], selection: PromptSelection) -> list[Any]:
    """The order candidates see validation items in. A race's drop test assumes the items seen so far are a random
    subset of all of them, which a file's order (sorted by topic, source or difficulty) need not be, so a race
    takes them in a fixed random order (seeded by `val_seed`; a resumed run sees the same one). Exhaustive
    selection scores every item, so it keeps the data's order."""
    if selection.strategy != "racing":
        return list(items)
    import numpy as np

    order = np.random.RandomState(selection.val_seed).permutation(len(items))
    return [items[int(i)] for i in order]


def select_prompt(
    grid: Sequence[PromptChoice], selection: PromptSelection, n_val: int, score: ScoreCandidate, *, align: int
) -> SelectionOutcome:
    """Pick the best candidate of `grid` on the first `n_val` validation items with the configured strategy."""
    if selection.strategy == "racing" and n_val > 0:
        return _race(grid, selection, n_val, score, align)
    return _exhaustive(grid, n_val, score)


def _exhaustive(grid: Sequence[PromptChoice], n_val: int, score: ScoreCandidate) -> SelectionOutcome:
    candidates = []
    accuracies = []
    for choice in grid:
        key, correct = score(choice, 0, n_val)
        accuracy = sum(correct) / len(correct) if correct else 0.0
        accuracies.append(accuracy)
        candidates.append({"label": choice.label, "key": key, "val_accuracy": accuracy, "items_scored": n_val})
    n = len(grid) * n_val
    return SelectionOutcome(select_best(accuracies), candidates, "exhaustive", n, n)


def _race(
    grid: Sequence[PromptChoice], selection: PromptSelection, n_val: int, score: ScoreCandidate, align: int
) -> SelectionOutcome:
    from medadapt.stats.racing import RaceSchedule, race

    keys: dict[int, str] = {}

    def score_block(candidate: int, start: int, stop: int) -> list[bool]:
        keys[candidate], correct = score(grid[candidate], start, stop)
        return correct

    settings = selection.race
    schedule = RaceSchedule(first_block=settings.first_block, growth=settings.growth, alpha=settings.alpha, align=align)
    result = race(score_block, len(grid), n_val, schedule)
    candidates = []
    for choice, evidence in zip(grid, result.candidates, strict=True):
        candidates.append(
            {
                "label": choice.label,
                "key": keys[evidence.index],
                "val_accuracy": evidence.accuracy,
                "items_scored": evidence.items_scored,
                "dropped_after": evidence.dropped_after,
                "dropped_by": None if evidence.dropped_by is None else grid[evidence.dropped_by].label,
                "p_value": evidence.p_value,
            }
        )
    return SelectionOutcome(result.chosen, candidates, "racing", result.items_scored, result.exhaustive_items)
