"""A LoRA sweep over the study's grid: resumable trials, best by validation loss, result as a registry entry."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from medadapt.finetune.selection import select_best_trial
from medadapt.finetune.spec import Overlong, SweepSpec
from medadapt.finetune.supervised import SupervisedPair
from medadapt.finetune.sweep_setup import BaseLoader, SweepSetup, prepare_sweep, run_trial
from medadapt.finetune.training_loop import TrainingCallback, TrialResult, load_trial_result

__all__ = ["SweepResult", "SweepSetup", "prepare_sweep", "run_sweep", "run_trial"]

BEST_ENTRY = "best_model.json"


@dataclass(frozen=True)
class SweepResult:
    """The finished sweep: every trial, the winner, and a ModelSpec (base + adapter) medadapt-models can load."""

    best_trial: TrialResult
    trials: list[TrialResult]
    registry_entry: Any
    out_dir: Path


def _write_summary(out_dir: Path, results: Sequence[TrialResult], best: TrialResult) -> None:
    rows = [
        {
            "index": r.trial.index,
            "trial_id": r.trial_id,
            "r": r.trial.lora.r,
            "learning_rate": r.trial.training.learning_rate,
            "best_val_loss": r.best_val_loss,
            "best_epoch": r.best_epoch,
            "epochs_run": r.epochs_run,
            "stopped_early": r.stopped_early,
            "selected": r.trial_id == best.trial_id,
        }
        for r in sorted(results, key=lambda r: r.trial.index)
    ]
    (out_dir / "summary.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
    with (out_dir / "summary.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def run_sweep(
    base: Any,
    train: Sequence[SupervisedPair],
    val: Sequence[SupervisedPair],
    out_dir: str | Path,
    spec: SweepSpec | None = None,
    *,
    name: str | None = None,
    executor: Literal["sequential", "ray"] = "sequential",
    ray_address: str | None = None,
    callbacks: Sequence[TrainingCallback] = (),
    progress: bool = True,
    keep_checkpoints: bool = False,
    overlong: Overlong = "error",
    max_train_examples: int | None = None,
) -> SweepResult:
    """Run every trial of `spec` on (`train`, `val`), pick the lowest validation loss and register the winner.

    `base` is a medadapt-models ModelSpec, registry name or checkpoint directory. Re-running with the same
    `out_dir` skips finished trials and resumes an interrupted one from its newest checkpoint. An example longer
    than the model's context raises (`overlong="error"`) or is left out and counted in the sweep manifest
    (`"drop"`); `max_train_examples` caps the training examples (the first ones, that fit when dropping).
    """
    spec = spec or SweepSpec()
    setup = prepare_sweep(
        base, train, val, out_dir, spec, overlong=overlong, max_train_examples=max_train_examples
    )
    trials = spec.trials()
    if executor == "sequential":
        bases = BaseLoader(setup.source)
        results = [
            run_trial(setup, t, callbacks=callbacks, progress=progress, keep_checkpoints=keep_checkpoints, bases=bases)
            for t in trials
        ]
    elif executor == "ray":
        from medadapt.finetune.ray_executor import run_trials_with_ray

        run_trials_with_ray(setup, trials, address=ray_address, keep_checkpoints=keep_checkpoints)
        results = []
        for t in trials:
            result = load_trial_result(setup.trial_dir(t))
            if result is None:
                raise RuntimeError(
                    f"ray executor: trial {t.trial_id} did not finish (see {setup.trial_dir(t)})"
                )
            results.append(result)
    else:
        raise ValueError(f"executor: expected 'sequential' or 'ray', got {executor!r}")
    best = select_best_trial(results)
    _write_summary(setup.out_dir, results, best)
    base_spec = setup.source.model_spec
    entry = base_spec.with_overrides(
        name=name or f"{base_spec.name}-lora-best",
        lora=best.adapter_dir,
        source=f"medadapt-finetune sweep {setup.out_dir}",
    )
    (setup.out_dir / BEST_ENTRY).write_text(
        json.dumps({"trial_id": best.trial_id, "model": entry.model_dump(mode="json")}, indent=1),
        encoding="utf-8",
    )
    return SweepResult(best_trial=best, trials=results, registry_entry=entry, out_dir=setup.out_dir)
