"""Rich progress for the fine-tuning phase: a bar per (model, task) sweep counting trials, a bar per trial counting
optimizer steps (its latest validation loss in the description), and the evaluation of the selected trial."""

from __future__ import annotations

from typing import Any

from rich.progress import Progress


def sweep_callback(progress: Progress, label: str, n_trials: int) -> Any:
    """A medadapt-finetune TrainingCallback that drives `progress` (imported lazily: torch is behind it)."""
    from medadapt.finetune import TrainingCallback

    class SweepProgress(TrainingCallback):  # type: ignore[misc]
        def __init__(self) -> None:
            self.sweep = progress.add_task(f"fine-tune {label}: trials", total=n_trials)
            self.trials: dict[str, Any] = {}

        def on_step(self, trial: Any, step: int, total_steps: int) -> None:
            if trial.trial_id not in self.trials:
                progress.update(self.sweep, completed=len(self.trials))
                self.trials[trial.trial_id] = progress.add_task(
                    f"  {label} · {trial.trial_id}", total=total_steps, completed=step
                )
            progress.update(self.trials[trial.trial_id], completed=step, total=total_steps)

        def on_epoch_end(self, trial: Any, row: dict[str, Any]) -> None:
            bar = self.trials.get(trial.trial_id)
            loss = row.get("val_loss")
            if bar is not None and isinstance(loss, float):
                progress.update(bar, description=f"  {label} · {trial.trial_id} · val loss {loss:.4f}")

        def finish(self) -> None:
            progress.update(self.sweep, completed=n_trials)

    return SweepProgress()


def bar_advance(progress: Progress) -> Any:
    """The (description, done, total) callback model_job.run_model_task reports through."""
    bars: dict[str, Any] = {}

    def advance(description: str, done: int, total: int) -> None:
        if description not in bars:
            bars[description] = progress.add_task(description, total=total)
        progress.update(bars[description], completed=done, total=total)

    return advance
