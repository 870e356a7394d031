"""Rich progress for the fine-tuning phase: a bar per (model, task) sweep counting trials, a bar per trial counting
optimizer steps (its latest validation loss in the description), and the evaluation of the selected trial."""

from __future__ import annotations

from typing import Any

from rich.progress import Progress

from medadapt.study.progress_bars import finish_bar


def sweep_callback(progress: Progress, label: str, n_trials: int) -> Any:
    """A medadapt-finetune TrainingCallback that drives `progress` (imported lazily: torch is behind it)."""
    from medadapt.finetune import TrainingCallback

    class SweepProgress(TrainingCallback):  # type: ignore[misc]
        def __init__(self) -> None:
            self.sweep = progress.add_task(f"fine-tune {label}: trials", total=n_trials)
            self.trials: dict[str, Any] = {}
            self.running: Any = None

        def on_step(self, trial: Any, step: int, total_steps: int) -> None:
            if trial.trial_id not in self.trials:
                self._finish_running()
                progress.update(self.sweep, completed=len(self.trials))
                self.running = progress.add_task(f"  {label} · {trial.trial_id}", total=total_steps, completed=step)
                self.trials[trial.trial_id] = self.running
            progress.update(self.trials[trial.trial_id], completed=step, total=total_steps)

        def on_epoch_end(self, trial: Any, row: dict[str, Any]) -> None:
            bar = self.trials.get(trial.trial_id)
            loss = row.get("val_loss")
            if bar is not None and isinstance(loss, float):
                progress.update(bar, description=f"  {label} · {trial.trial_id} · val loss {loss:.4f}")

        def finish(self) -> None:
            self._finish_running()
            progress.update(self.sweep, completed=n_trials)
            finish_bar(progress, self.sweep)

        def _finish_running(self) -> None:
            """A trial's bar stays while it trains; the next trial (or the sweep's end) prints and drops it."""
            if self.running is not None:
                finish_bar(progress, self.running)
                self.running = None

    return SweepProgress()
