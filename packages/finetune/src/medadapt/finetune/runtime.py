"""Device, precision and process-group plumbing for the training loop: plain torch alone, accelerate when launched."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from medadapt.finetune.spec import Precision

__all__ = ["Runtime", "resolve_precision"]


def resolve_precision(precision: Precision, device: str) -> str:
    """ "bf16" on a CUDA device that supports it when `precision` is "auto", else "fp32"; explicit values win."""
    import torch

    if precision != "auto":
        if precision == "bf16" and device == "cpu":
            # bf16 autocast works on CPU, but slowly on most CPUs; allowed because it was asked for.
            return "bf16"
        return precision
    if device.startswith("cuda") and torch.cuda.is_bf16_supported():
        return "bf16"
    return "fp32"


@dataclass
class Runtime:
    """Where and how tensors run; `accelerator` is set only under `accelerate launch` with several processes."""

    device: str
    precision: str
    accelerator: Any = None

    @classmethod
    def create(cls, precision: Precision = "auto", device: str | None = None) -> Runtime:
        """Pick CUDA when present; use accelerate (DDP / DeepSpeed configs) only when WORLD_SIZE > 1."""
        import torch

        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            from accelerate import Accelerator

            guess = "cuda" if torch.cuda.is_available() else "cpu"
            resolved = resolve_precision(precision, guess)
            accelerator = Accelerator(mixed_precision="bf16" if resolved == "bf16" else "no")
            return cls(device=str(accelerator.device), precision=resolved, accelerator=accelerator)
        chosen = device or ("cuda" if torch.cuda.is_available() else "cpu")
        return cls(device=chosen, precision=resolve_precision(precision, chosen))

    @property
    def rank(self) -> int:
        """This process's index among the training processes."""
        return int(self.accelerator.process_index) if self.accelerator else 0

    @property
    def world_size(self) -> int:
        """How many processes train together."""
        return int(self.accelerator.num_processes) if self.accelerator else 1

    @property
    def is_main(self) -> bool:
        """Only the main process writes files."""
        return self.rank == 0

    @property
    def load_dtype(self) -> Any:
        """The dtype to load the frozen base weights in (the study casts to bf16 on GPUs)."""
        import torch

        return torch.bfloat16 if self.precision == "bf16" else torch.float32

    def prepare(self, model: Any, optimizer: Any, micro_batch_size: int = 1) -> tuple[Any, Any]:
        """Move to the device, or let accelerate wrap for DDP/DeepSpeed."""
        if self.accelerator:
            plugin = getattr(self.accelerator.state, "deepspeed_plugin", None)
            if plugin is not None:
                # No DataLoader goes through prepare(), so DeepSpeed's "auto" batch size is filled here.
                plugin.deepspeed_config["train_micro_batch_size_per_gpu"] = int(micro_batch_size)
            return self.accelerator.prepare(model, optimizer)
        return model.to(self.device), optimizer

    def unwrap(self, model: Any) -> Any:
        """The bare model under any DDP/DeepSpeed wrapper."""
        return self.accelerator.unwrap_model(model) if self.accelerator else model

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        """bf16 autocast when training in bf16, nothing otherwise."""
        import torch

        if self.precision != "bf16":
            yield
            return
        device_type = "cuda" if self.device.startswith("cuda") else "cpu"
        with torch.autocast(device_type=device_type, dtype=torch.bfloat16):
            yield

    def backward(self, loss: Any) -> None:
        """loss.backward(), through accelerate when it wraps the model."""
        if self.accelerator:
            self.accelerator.backward(loss)
        else:
            loss.backward()

    def clip_grad_norm(self, parameters: Any, max_norm: float) -> None:
        """Clip the global gradient norm."""
        import torch

        if self.accelerator:
            self.accelerator.clip_grad_norm_(parameters, max_norm)
        else:
            torch.nn.utils.clip_grad_norm_(parameters, max_norm)

    def reduce_sum(self, value: Any) -> Any:
        """Sum a tensor over processes."""
        if self.accelerator:
            return self.accelerator.reduce(value, reduction="sum")
        return value

    def wait(self) -> None:
        """Barrier between processes (after the main one wrote files)."""
        if self.accelerator:
            self.accelerator.wait_for_everyone()
