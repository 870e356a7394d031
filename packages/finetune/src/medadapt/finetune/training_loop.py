"""One trial: a compact, resumable supervised training loop with per-epoch validation and early stopping
(docs/protocol.md#lora-sweep-and-selection)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from medadapt.finetune.checkpoint import (
    TrainState,
    latest_checkpoint,
    load_checkpoint,
    publish_directory,
    remove_checkpoints,
    save_checkpoint,
)
from medadapt.finetune.history import write_history
from medadapt.finetune.optimizer_steps import (
    GlobalBatch,
    ModelInputs,
    Trainer,
    build_trainer,
    evaluate_loss,
    forward_inputs,
    progress_bar,
    run_steps,
)
from medadapt.finetune.parameters import ParameterSelection
from medadapt.finetune.runtime import Runtime
from medadapt.finetune.spec import TrainingSpec, TrialSpec
from medadapt.finetune.supervised import SupervisedFeatures

__all__ = ["TrainingCallback", "TrialResult", "epoch_order", "load_trial_result", "train_trial"]

RESULT_FILE = "result.json"
BEST_DIR = "best"


class TrialResult(BaseModel):
    """What a finished trial reports; written to result.json in its directory."""

    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="constants")

    trial: TrialSpec
    trial_id: str
    best_val_loss: float  # NaN when no epoch produced a finite validation loss
    best_epoch: int  # 1-based; 0 when no epoch improved
    epochs_run: int
    global_steps: int
    stopped_early: bool
    resumed_at: list[int]
    adapter_dir: str
    history: list[dict[str, Any]]


class TrainingCallback:
    """Hooks into a trial; subclass and override what you need (progress reporting, Ray, tests)."""

    def on_step(self, trial: TrialSpec, step: int, total_steps: int) -> None:
        """When a trial starts (or resumes) at `step`, and after each optimizer step (progress displays)."""

    def on_epoch_end(self, trial: TrialSpec, row: dict[str, Any]) -> None:
        """After validation of an epoch."""

    def on_checkpoint(self, trial: TrialSpec, path: Path, state: TrainState) -> None:
        """After a checkpoint directory was published."""


def epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    """The example order of one epoch, a function of (seed, epoch) only, so a resumed run sees the same batches."""
    import torch

    generator = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(epoch))
    return torch.randperm(n, generator=generator).tolist()


def load_trial_result(trial_dir: Path) -> TrialResult | None:
    """The result of a finished trial, or None when it has not finished."""
    path = trial_dir / RESULT_FILE
    if not path.is_file():
        return None
    return TrialResult.model_validate_json(path.read_text(encoding="utf-8"))


def train_trial(
    trial: TrialSpec,
    *,
    load_model: Callable[[Runtime], Any],
    selection: ParameterSelection,
    train: Sequence[SupervisedFeatures],
    val: Sequence[SupervisedFeatures],
    trial_dir: Path,
    pad_token_id: int,
    save_extras: Callable[[Path], None] | None = None,
    callbacks: Sequence[TrainingCallback] = (),
    progress: bool = True,
    keep_checkpoints: bool = False,
    runtime: Runtime | None = None,
) -> TrialResult:
    """Train one trial to its end (max epochs or early stop), resuming from its newest checkpoint if any.

    The best adapter (lowest validation loss) is kept in `trial_dir/best`; `result.json`, `history.csv` and
    `history.json` are written at the end. A trial that already has `result.json` is returned as is.
    """
    done = load_trial_result(trial_dir)
    if done is not None:
        return done
    _require_examples(train, val)
    spec = trial.training
    runtime = runtime or Runtime.create(spec.precision)
    steps_per_epoch = math.ceil(len(train) / _global_batch_size(spec, runtime))
    total_steps = steps_per_epoch * spec.max_epochs
    trainer = _trial_trainer(spec, load_model, selection, runtime, pad_token_id, total_steps)
    run = _TrialRun(trial, trainer, selection, trial_dir, save_extras, callbacks, steps_per_epoch)
    run.resume()
    for cb in callbacks:
        cb.on_step(trial, run.state.global_step, total_steps)
    with progress_bar(
        progress and runtime.is_main, total_steps, initial=run.state.global_step, desc=trial.trial_id
    ) as bar:
        while not run.state.finished and run.state.epoch < spec.max_epochs:
            run_steps(trainer, run.epoch_batches(train), bar=bar, on_step=run.after_step)
            run.end_epoch(val)
    return run.finish(keep_checkpoints)


def _require_examples(train: Sequence[SupervisedFeatures], val: Sequence[SupervisedFeatures]) -> None:
    if not train:
        raise ValueError("train: expected at least one training example, got none")
    if not val:
        raise ValueError("val: expected at least one validation example, got none")


def _global_batch_size(spec: TrainingSpec, runtime: Runtime) -> int:
    return spec.batch_size * spec.gradient_accumulation_steps * runtime.world_size


def _trial_trainer(
    spec: TrainingSpec,
    load_model: Callable[[Runtime], Any],
    selection: ParameterSelection,
    runtime: Runtime,
    pad_token_id: int,
    total_steps: int,
) -> Trainer:
    """Seed, load the base, make the selected parameters trainable, and set up optimizer and schedule."""
    import torch

    torch.manual_seed(spec.seed)
    model = selection.apply(load_model(runtime))
    if spec.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.enable_input_require_grads()
    model_inputs: ModelInputs = getattr(selection, "model_inputs", forward_inputs)
    return build_trainer(
        model,
        selection.param_groups(model, spec.weight_decay),
        runtime=runtime,
        learning_rate=spec.learning_rate,
        lr_scheduler=spec.lr_scheduler,
        warmup_ratio=spec.warmup_ratio,
        total_steps=total_steps,
        micro_batch_size=spec.batch_size,
        pad_token_id=pad_token_id,
        max_grad_norm=spec.max_grad_norm,
        study_compat=spec.study_compat,
        model_inputs=model_inputs,
    )


class _TrialRun:
    """One trial in progress: its resumable state and what happens after each step and each epoch."""

    def __init__(
        self,
        trial: TrialSpec,
        trainer: Trainer,
        selection: ParameterSelection,
        trial_dir: Path,
        save_extras: Callable[[Path], None] | None,
        callbacks: Sequence[TrainingCallback],
        steps_per_epoch: int,
    ) -> None:
        self.trial, self.spec, self.trainer, self.selection = trial, trial.training, trainer, selection
        self.trial_dir, self.save_extras, self.callbacks = trial_dir, save_extras, callbacks
        self.steps_per_epoch = steps_per_epoch
        self.total_steps = steps_per_epoch * trial.training.max_epochs
        self.state = TrainState()

    def resume(self) -> None:
        """Continue from the newest complete checkpoint, if there is one."""
        resume_from = latest_checkpoint(self.trial_dir)
        if resume_from is not None:
            t = self.trainer
            self.state = load_checkpoint(resume_from, t.runtime.unwrap(t.model), t.optimizer, t.scheduler)
            self.state.resumed_at.append(self.state.global_step)

    def epoch_batches(self, train: Sequence[SupervisedFeatures]) -> Iterator[GlobalBatch]:
        """The rest of the current epoch's global batches, cut into micro-batches."""
        global_batch = _global_batch_size(self.spec, self.trainer.runtime)
        micro = self.spec.batch_size * self.trainer.runtime.world_size
        order = epoch_order(len(train), self.spec.seed, self.state.epoch)
        for step in range(self.state.step_in_epoch, self.steps_per_epoch):
            rows = [train[i] for i in order[step * global_batch : (step + 1) * global_batch]]
            yield [rows[i : i + micro] for i in range(0, len(rows), micro)]

    def after_step(self, loss: float) -> None:
        """Count the step and its loss; checkpoint every `checkpoint_every_steps` inside an epoch."""
        state = self.state
        state.global_step += 1
        state.step_in_epoch += 1
        state.epoch_loss_sum += loss
        state.epoch_loss_steps += 1
        for cb in self.callbacks:
            cb.on_step(self.trial, state.global_step, self.total_steps)
        every = self.spec.checkpoint_every_steps
        if every and state.global_step % every == 0 and state.step_in_epoch < self.steps_per_epoch:
            self.checkpoint()

    def end_epoch(self, val: Sequence[SupervisedFeatures]) -> None:
        """Validate, keep the best adapter, decide whether to stop, and checkpoint."""
        val_loss = evaluate_loss(
            self.trainer, val, batch_size=self.spec.eval_batch_size or self.spec.batch_size
        )
        row = self._record_epoch(val_loss)
        for cb in self.callbacks:
            cb.on_epoch_end(self.trial, row)
        self._advance_epoch()
        self.checkpoint()

    def _record_epoch(self, val_loss: float) -> dict[str, Any]:
        state, spec = self.state, self.spec
        best = state.best_val_loss
        # A NaN loss (diverged run) never counts as an improvement; such a trial cannot win the sweep.
        improved = not math.isnan(val_loss) and (
            best is None or (val_loss < best and abs(val_loss - best) > spec.early_stopping_threshold)
        )
        row = {
            "epoch": state.epoch + 1,
            "global_step": state.global_step,
            "learning_rate": float(self.trainer.scheduler.get_last_lr()[0]),
            "train_loss": state.epoch_loss_sum / max(state.epoch_loss_steps, 1),
            "val_loss": val_loss,
            "improved": improved,
        }
        state.history.append(row)
        if improved:
            state.best_val_loss, state.best_epoch, state.bad_epochs = val_loss, state.epoch + 1, 0
            if self.trainer.runtime.is_main:
                model = self.trainer.runtime.unwrap(self.trainer.model)
                _save_best(self.selection, model, self.trial_dir / BEST_DIR, self.save_extras)
        else:
            state.bad_epochs += 1
        return row

    def _advance_epoch(self) -> None:
        state = self.state
        state.epoch += 1
        state.step_in_epoch = 0
        state.epoch_loss_sum, state.epoch_loss_steps = 0.0, 0
        patience = self.spec.early_stopping_patience
        if patience is not None and state.bad_epochs >= patience:
            state.finished = state.stopped_early = True
        elif state.epoch >= self.spec.max_epochs:
            state.finished = True

    def checkpoint(self) -> None:
        t = self.trainer
        if t.runtime.is_main:
            path = save_checkpoint(
                self.trial_dir, t.runtime.unwrap(t.model), t.optimizer, t.scheduler, self.state
            )
            for cb in self.callbacks:
                cb.on_checkpoint(self.trial, path, self.state)
        t.runtime.wait()

    def finish(self, keep_checkpoints: bool) -> TrialResult:
        """The result, with history and result.json written (main process) and checkpoints dropped."""
        state = self.state
        result = TrialResult(
            trial=self.trial,
            trial_id=self.trial.trial_id,
            best_val_loss=math.nan if state.best_val_loss is None else state.best_val_loss,
            best_epoch=state.best_epoch or 0,
            epochs_run=state.epoch,
            global_steps=state.global_step,
            stopped_early=state.stopped_early,
            resumed_at=state.resumed_at,
            adapter_dir=str((self.trial_dir / BEST_DIR).resolve()),
            history=state.history,
        )
        if self.trainer.runtime.is_main:
            write_history(self.trial_dir, state.history)
            (self.trial_dir / RESULT_FILE).write_text(result.model_dump_json(indent=1), encoding="utf-8")
            if not keep_checkpoints:
                remove_checkpoints(self.trial_dir)
        self.trainer.runtime.wait()
        return result


def _save_best(
    selection: ParameterSelection, model: Any, target: Path, save_extras: Callable[[Path], None] | None
) -> None:
    def write(tmp: Path) -> None:
        selection.save_trained(model, tmp)
        if save_extras is not None:
            save_extras(tmp)

    publish_directory(write, target)
