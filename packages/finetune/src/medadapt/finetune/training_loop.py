"""One trial: a compact, resumable supervised training loop with per-epoch validation and early stopping (§7.1)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
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
from medadapt.finetune.collate import pad_supervised_batch
from medadapt.finetune.history import write_history
from medadapt.finetune.parameters import ParameterSelection
from medadapt.finetune.runtime import Runtime
from medadapt.finetune.spec import TrainingSpec, TrialSpec
from medadapt.finetune.supervised import IGNORE_INDEX, SupervisedFeatures

__all__ = ["TrainingCallback", "TrialResult", "epoch_order", "supervised_loss_sum", "train_trial"]

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

    def on_epoch_end(self, trial: TrialSpec, row: dict[str, Any]) -> None:
        """After validation of an epoch."""

    def on_step(self, trial: TrialSpec, step: int, total_steps: int) -> None:
        """When a trial starts (or resumes) at `step`, and after each optimizer step (progress displays)."""

    def on_checkpoint(self, trial: TrialSpec, path: Path, state: TrainState) -> None:
        """After a checkpoint directory was published."""


def epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    """The example order of one epoch, a function of (seed, epoch) only, so a resumed run sees the same batches."""
    import torch

    generator = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(epoch))
    return torch.randperm(n, generator=generator).tolist()


def supervised_loss_sum(logits: Any, labels: Any) -> tuple[Any, int]:
    """Summed next-token cross-entropy over labelled positions, and how many there were."""
    import torch

    shifted_logits = logits[:, :-1, :].float()
    shifted_labels = labels[:, 1:].to(shifted_logits.device)
    count = int((shifted_labels != IGNORE_INDEX).sum())
    loss = torch.nn.functional.cross_entropy(
        shifted_logits.reshape(-1, shifted_logits.shape[-1]),
        shifted_labels.reshape(-1),
        ignore_index=IGNORE_INDEX,
        reduction="sum",
    )
    return loss, count


def _to_device(batch: dict[str, Any], device: str, float_dtype: Any) -> dict[str, Any]:
    out = {}
    for key, value in batch.items():
        value = value.to(device)
        if value.is_floating_point():
            value = value.to(float_dtype)
        out[key] = value
    return out


def forward_inputs(batch: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of a transformers model's forward: the batch without labels."""
    return {k: v for k, v in batch.items() if k != "labels"}


ModelInputs = Callable[[dict[str, Any]], dict[str, Any]]


def _make_scheduler(optimizer: Any, spec: TrainingSpec, total_steps: int) -> Any:
    from transformers import get_scheduler

    warmup = math.ceil(total_steps * spec.warmup_ratio)
    return get_scheduler(
        spec.lr_scheduler, optimizer, num_warmup_steps=warmup, num_training_steps=total_steps
    )


def evaluate_loss(
    model: Any,
    features: Sequence[SupervisedFeatures],
    *,
    pad_token_id: int,
    batch_size: int,
    runtime: Runtime,
    study_compat: bool = False,
    model_inputs: ModelInputs = forward_inputs,
) -> float:
    """Token-weighted mean answer loss over `features` (each process takes a share; sums are reduced)."""
    import torch

    model.eval()
    total = torch.zeros(2, dtype=torch.float64, device=runtime.device)
    shard = list(range(runtime.rank, len(features), runtime.world_size))
    with torch.no_grad():
        for start in range(0, len(shard), batch_size):
            chunk = [features[i] for i in shard[start : start + batch_size]]
            batch = _to_device(
                pad_supervised_batch(chunk, pad_token_id, study_compat=study_compat),
                runtime.device,
                _float(runtime),
            )
            with runtime.autocast():
                logits = model(**model_inputs(batch)).logits
            loss, count = supervised_loss_sum(logits, batch["labels"])
            total[0] += loss.double()
            total[1] += count
    total = runtime.reduce_sum(total)
    if float(total[1]) == 0:
        raise ValueError("validation set: no labelled tokens (are all targets empty?)")
    return float(total[0] / total[1])


def _float(runtime: Runtime) -> Any:
    return runtime.load_dtype


def _train_step(
    model: Any,
    optimizer: Any,
    scheduler: Any,
    micro_batches: list[list[SupervisedFeatures]],
    *,
    spec: TrainingSpec,
    pad_token_id: int,
    runtime: Runtime,
    params: list[Any],
    model_inputs: ModelInputs = forward_inputs,
) -> float:
    """One optimizer step over the micro-batches of a global batch; loss normalised by its answer tokens."""
    model.train()
    n_tokens = sum(sum(1 for t in f.labels[1:] if t != IGNORE_INDEX) for mb in micro_batches for f in mb)
    n_tokens = max(n_tokens, 1)
    step_loss = 0.0
    for rows in micro_batches:
        mine = rows[runtime.rank :: runtime.world_size]
        if not mine:
            continue
        batch = _to_device(
            pad_supervised_batch(mine, pad_token_id, study_compat=spec.study_compat),
            runtime.device,
            _float(runtime),
        )
        with runtime.autocast():
            logits = model(**model_inputs(batch)).logits
        loss_sum, _ = supervised_loss_sum(logits, batch["labels"])
        # DDP averages gradients over processes; scaling by the world size keeps the per-token mean.
        loss = loss_sum * runtime.world_size / n_tokens
        runtime.backward(loss)
        step_loss += float(loss_sum.detach()) / n_tokens
    if spec.max_grad_norm is not None:
        runtime.clip_grad_norm(params, spec.max_grad_norm)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    if runtime.world_size > 1:
        import torch

        step_loss = float(runtime.reduce_sum(torch.tensor(step_loss, device=runtime.device)))
    return step_loss


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
    import torch

    done = load_trial_result(trial_dir)
    if done is not None:
        return done
    if not train:
        raise ValueError("train: expected at least one training example, got none")
    if not val:
        raise ValueError("val: expected at least one validation example, got none")
    spec = trial.training
    runtime = runtime or Runtime.create(spec.precision)
    torch.manual_seed(spec.seed)
    model = selection.apply(load_model(runtime))
    if spec.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.enable_input_require_grads()
    params = [p for p in model.parameters() if p.requires_grad]
    # A selection may map the batch onto another forward signature (Flamingo: lang_x, vision_x).
    model_inputs: ModelInputs = getattr(selection, "model_inputs", forward_inputs)
    optimizer = torch.optim.AdamW(selection.param_groups(model, spec.weight_decay), lr=spec.learning_rate)
    model, optimizer = runtime.prepare(model, optimizer, spec.batch_size)

    global_batch = spec.batch_size * spec.gradient_accumulation_steps * runtime.world_size
    steps_per_epoch = math.ceil(len(train) / global_batch)
    total_steps = steps_per_epoch * spec.max_epochs
    scheduler = _make_scheduler(optimizer, spec, total_steps)

    state = TrainState()
    resume_from = latest_checkpoint(trial_dir)
    if resume_from is not None:
        state = load_checkpoint(resume_from, runtime.unwrap(model), optimizer, scheduler)
        state.resumed_at.append(state.global_step)

    def checkpoint() -> None:
        if runtime.is_main:
            path = save_checkpoint(trial_dir, runtime.unwrap(model), optimizer, scheduler, state)
            for cb in callbacks:
                cb.on_checkpoint(trial, path, state)
        runtime.wait()

    for cb in callbacks:
        cb.on_step(trial, state.global_step, total_steps)
    bar = None
    if progress and runtime.is_main:
        from tqdm.auto import tqdm

        bar = tqdm(total=total_steps, initial=state.global_step, desc=trial.trial_id, leave=False)
    micro = spec.batch_size * runtime.world_size
    eval_batch = spec.eval_batch_size or spec.batch_size
    try:
        while not state.finished and state.epoch < spec.max_epochs:
            order = epoch_order(len(train), spec.seed, state.epoch)
            for step in range(state.step_in_epoch, steps_per_epoch):
                rows = [train[i] for i in order[step * global_batch : (step + 1) * global_batch]]
                micro_batches = [rows[i : i + micro] for i in range(0, len(rows), micro)]
                loss = _train_step(
                    model,
                    optimizer,
                    scheduler,
                    micro_batches,
                    spec=spec,
                    pad_token_id=pad_token_id,
                    runtime=runtime,
                    params=params,
                    model_inputs=model_inputs,
                )
                state.global_step += 1
                state.step_in_epoch = step + 1
                state.epoch_loss_sum += loss
                state.epoch_loss_steps += 1
                for cb in callbacks:
                    cb.on_step(trial, state.global_step, total_steps)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{loss:.4f}")
                every = spec.checkpoint_every_steps
                if every and state.global_step % every == 0 and state.step_in_epoch < steps_per_epoch:
                    checkpoint()
            val_loss = evaluate_loss(
                model,
                val,
                pad_token_id=pad_token_id,
                batch_size=eval_batch,
                runtime=runtime,
                study_compat=spec.study_compat,
                model_inputs=model_inputs,
            )
            best = state.best_val_loss
            # A NaN loss (diverged run) never counts as an improvement; such a trial cannot win the sweep.
            improved = not math.isnan(val_loss) and (
                best is None or (val_loss < best and abs(val_loss - best) > spec.early_stopping_threshold)
            )
            row = {
                "epoch": state.epoch + 1,
                "global_step": state.global_step,
                "learning_rate": float(scheduler.get_last_lr()[0]),
                "train_loss": state.epoch_loss_sum / max(state.epoch_loss_steps, 1),
                "val_loss": val_loss,
                "improved": improved,
            }
            state.history.append(row)
            if improved:
                state.best_val_loss, state.best_epoch, state.bad_epochs = val_loss, state.epoch + 1, 0
                if runtime.is_main:
                    _save_best(selection, runtime.unwrap(model), trial_dir / BEST_DIR, save_extras)
            else:
                state.bad_epochs += 1
            for cb in callbacks:
                cb.on_epoch_end(trial, row)
            state.epoch += 1
            state.step_in_epoch = 0
            state.epoch_loss_sum, state.epoch_loss_steps = 0.0, 0
            patience = spec.early_stopping_patience
            if patience is not None and state.bad_epochs >= patience:
                state.finished = state.stopped_early = True
            elif state.epoch >= spec.max_epochs:
                state.finished = True
            checkpoint()
    finally:
        if bar is not None:
            bar.close()

    result = TrialResult(
        trial=trial,
        trial_id=trial.trial_id,
        best_val_loss=math.nan if state.best_val_loss is None else state.best_val_loss,
        best_epoch=state.best_epoch or 0,
        epochs_run=state.epoch,
        global_steps=state.global_step,
        stopped_early=state.stopped_early,
        resumed_at=state.resumed_at,
        adapter_dir=str((trial_dir / BEST_DIR).resolve()),
        history=state.history,
    )
    if runtime.is_main:
        write_history(trial_dir, state.history)
        (trial_dir / RESULT_FILE).write_text(result.model_dump_json(indent=1), encoding="utf-8")
        if not keep_checkpoints:
            remove_checkpoints(trial_dir)
    runtime.wait()
    return result


def _save_best(
    selection: ParameterSelection, model: Any, target: Path, save_extras: Callable[[Path], None] | None
) -> None:
    def write(tmp: Path) -> None:
        selection.save_trained(model, tmp)
        if save_extras is not None:
            save_extras(tmp)

    publish_directory(write, target)
