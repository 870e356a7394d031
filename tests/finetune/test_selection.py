from __future__ import annotations

import math

import pytest

from medadapt.finetune.selection import select_best_trial
from medadapt.finetune.spec import SweepSpec
from medadapt.finetune.training_loop import TrialResult


def _results(losses: list[float]) -> list[TrialResult]:
    trials = SweepSpec(ranks=(4, 8), learning_rates=(1e-3, 2e-3)).trials()
    return [
        TrialResult(
            trial=t,
            trial_id=t.trial_id,
            best_val_loss=loss,
            best_epoch=1,
            epochs_run=1,
            global_steps=1,
            stopped_early=False,
            resumed_at=[],
            adapter_dir="/x",
            history=[],
        )
        for t, loss in zip(trials, losses, strict=True)
    ]


def test_lowest_validation_loss_wins() -> None:
    assert select_best_trial(_results([3.0, 1.0, 2.0, 1.5])).trial.index == 1


def test_ties_go_to_the_earliest_trial_of_the_grid() -> None:
    results = _results([2.0, 1.0, 1.0, 3.0])
    assert select_best_trial(list(reversed(results))).trial.index == 1


def test_nan_never_wins_and_all_nan_is_an_error() -> None:
    assert select_best_trial(_results([math.nan, 2.0, math.nan, 3.0])).trial.index == 1
    with pytest.raises(ValueError, match="finite"):
        select_best_trial(_results([math.nan] * 4))
