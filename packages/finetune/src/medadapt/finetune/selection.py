"""Best-trial selection: lowest validation loss, ties to the earliest trial of the grid
(docs/protocol.md#lora-sweep-and-selection, strict `<`)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from medadapt.finetune.training_loop import TrialResult

__all__ = ["select_best_trial"]


def select_best_trial(results: Sequence[TrialResult]) -> TrialResult:
    """The trial with the minimum `best_val_loss`; NaN losses never win; equal losses keep the lower index."""
    candidates = [r for r in results if not math.isnan(r.best_val_loss)]
    if not candidates:
        raise ValueError(f"results: none of {len(results)} trials has a finite validation loss")
    best = None
    for result in sorted(candidates, key=lambda r: r.trial.index):
        if best is None or result.best_val_loss < best.best_val_loss:
            best = result
    assert best is not None
    return best
