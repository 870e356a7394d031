"""Resumable training state on disk without pickle: safetensors for weights and RNG, JSON for the rest.

A checkpoint is a directory `checkpoint-<global_step>` written under a temporary name and renamed into place,
so a process killed while saving leaves the previous checkpoint intact. Optimizer state (tensors and
primitives only) goes through `torch.save` and is read back with `weights_only=True`.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "TrainState",
    "latest_checkpoint",
    "load_checkpoint",
    "publish_directory",
    "remove_checkpoints",
    "save_checkpoint",
    "trainable_state_dict",
]

_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
_WEIGHTS = "trainable.safetensors"
_OPTIMIZER = "optimizer.pt"
_SCHEDULER = "scheduler.json"
_RNG = "rng.safetensors"
_STATE = "state.json"


@dataclass
class TrainState:
    """Where a trial stands: the next epoch/step to run, the best validation loss so far and the history."""

    epoch: int = 0
    step_in_epoch: int = 0
    global_step: int = 0
    best_val_loss: float | None = None
    best_epoch: int | None = None
    bad_epochs: int = 0
    epoch_loss_sum: float = 0.0
    epoch_loss_steps: int = 0
    finished: bool = False
    stopped_early: bool = False
    # Global steps at which this trial was resumed from a checkpoint (provenance; empty when never interrupted).
    resumed_at: list[int] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> str:
        """JSON text of the state."""
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, source: str = "state") -> TrainState:
        """Parse `to_json` output, naming `source` on a bad field."""
        data = json.loads(text)
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{source}: unknown training-state fields {unknown}")
        return cls(**data)


def trainable_state_dict(model: Any) -> dict[str, Any]:
    """Detached CPU copies of the parameters that train (LoRA matrices, Flamingo's resampler, ...)."""
    return {
        name: p.detach().to("cpu").contiguous().clone()
        for name, p in model.named_parameters()
        if p.requires_grad
    }


def publish_directory(write: Any, target: Path) -> Path:
    """Call `write(tmp_dir)`, then rename the temporary directory to `target` (replacing an older one)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        write(tmp)
        if target.exists():
            stale = target.with_name(f".{target.name}.old")
            shutil.rmtree(stale, ignore_errors=True)
            target.rename(stale)
            tmp.rename(target)
            shutil.rmtree(stale, ignore_errors=True)
        else:
            tmp.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _rng_tensors() -> dict[str, Any]:
    import torch

    tensors = {"torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"torch_cuda_{i}"] = state
    return tensors


def _restore_rng(tensors: dict[str, Any]) -> None:
    import torch

    torch.set_rng_state(tensors["torch_cpu"])
    if torch.cuda.is_available():
        states = [tensors[k] for k in sorted(k for k in tensors if k.startswith("torch_cuda_"))]
        if len(states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(states)


def save_checkpoint(trial_dir: Path, model: Any, optimizer: Any, scheduler: Any, state: TrainState) -> Path:
    """Write `checkpoint-<global_step>` atomically, then delete older checkpoints of the trial."""
    import torch
    from safetensors.torch import save_file

    def write(tmp: Path) -> None:
        save_file(trainable_state_dict(model), str(tmp / _WEIGHTS))
        torch.save(optimizer.state_dict(), tmp / _OPTIMIZER)
        (tmp / _SCHEDULER).write_text(json.dumps(scheduler.state_dict(), sort_keys=True), encoding="utf-8")
        save_file({k: v.contiguous() for k, v in _rng_tensors().items()}, str(tmp / _RNG))
        # Written last: a directory with state.json is complete.
        (tmp / _STATE).write_text(state.to_json(), encoding="utf-8")

    target = publish_directory(write, trial_dir / f"checkpoint-{state.global_step}")
    for older in _checkpoints(trial_dir):
        if older != target:
            shutil.rmtree(older, ignore_errors=True)
    return target


def _checkpoints(trial_dir: Path) -> list[Path]:
    if not trial_dir.is_dir():
        return []
    found = [
        (int(m.group(1)), p) for p in trial_dir.iterdir() if (m := _CHECKPOINT.match(p.name)) and p.is_dir()
    ]
    return [p for _, p in sorted(found)]


def latest_checkpoint(trial_dir: Path) -> Path | None:
    """The newest complete checkpoint directory of a trial, or None."""
    complete = [p for p in _checkpoints(trial_dir) if (p / _STATE).is_file()]
    return complete[-1] if complete else None


def remove_checkpoints(trial_dir: Path) -> None:
    """Delete a finished trial's resumable state (its best adapter and history stay)."""
    for path in _checkpoints(trial_dir):
        shutil.rmtree(path, ignore_errors=True)


def load_checkpoint(path: Path, model: Any, optimizer: Any, scheduler: Any) -> TrainState:
    """Restore weights, optimizer, scheduler and RNG from `path` into the live objects; return the state."""
    import torch
    from safetensors.torch import load_file

    weights = load_file(str(path / _WEIGHTS))
    params = dict(model.named_parameters())
    missing = sorted(n for n, p in params.items() if p.requires_grad and n not in weights)
    unexpected = sorted(n for n in weights if n not in params)
    if missing or unexpected:
        raise ValueError(
            f"{path / _WEIGHTS}: does not match the model's trainable parameters "
            f"(missing {missing[:3]}, unexpected {unexpected[:3]}); was the trial's spec changed?"
        )
    with torch.no_grad():
        for name, value in weights.items():
            params[name].copy_(value.to(params[name].device, params[name].dtype))
    optimizer.load_state_dict(torch.load(path / _OPTIMIZER, map_location="cpu", weights_only=True))
    scheduler.load_state_dict(json.loads((path / _SCHEDULER).read_text(encoding="utf-8")))
    _restore_rng(load_file(str(path / _RNG)))
    return TrainState.from_json((path / _STATE).read_text(encoding="utf-8"), source=str(path / _STATE))
