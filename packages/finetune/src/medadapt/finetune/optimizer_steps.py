"""The one training loop: optimizer steps over global batches, shared by SFT trials and continued pretraining.

What differs between the two (epochs and validation for SFT, a step budget over packed blocks for pretraining)
is the batches they feed in and what they do with each step's loss; the step itself is the same.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from medadapt.finetune.collate import pad_supervised_batch
from medadapt.finetune.runtime import Runtime
from medadapt.finetune.supervised import IGNORE_INDEX, SupervisedFeatures

__all__ = [
    "GlobalBatch",
    "ModelInputs",
    "Trainer",
    "build_trainer",
    "evaluate_loss",
    "forward_inputs",
    "progress_bar",
    "run_steps",
    "supervised_loss_sum",
]

# One optimizer step's examples, cut into the micro-batches that go through the model one at a time.
GlobalBatch = list[list[SupervisedFeatures]]
ModelInputs = Callable[[dict[str, Any]], dict[str, Any]]


def forward_inputs(batch: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of a transformers model's forward: the batch without labels."""
    return {k: v for k, v in batch.items() if k != "labels"}


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


def _answer_window(labels: Any) -> int:
    """How many last positions hold every logit the loss reads: from the one before the first labelled token
    (answers end the rows, so with long prompts most positions need no vocabulary projection at all)."""
    labelled = (labels != IGNORE_INDEX).any(dim=0).nonzero()
    if len(labelled) == 0:
        return 0
    return int(labels.shape[1] - max(int(labelled[0]) - 1, 0))


def _takes_logits_to_keep(model: Any) -> bool:
    from medadapt.models.capabilities import ForwardSignature

    base = model.module if hasattr(model, "module") else model  # DDP
    base = base.get_base_model() if hasattr(base, "get_base_model") else base  # peft
    return ForwardSignature.of(base).keeps_logits


def _to_device(batch: dict[str, Any], device: str, float_dtype: Any) -> dict[str, Any]:
    out = {}
    for key, value in batch.items():
        value = value.to(device)
        if value.is_floating_point():
            value = value.to(float_dtype)
        out[key] = value
    return out


@dataclass
class Trainer:
    """A model with its optimizer and schedule, and how a padded batch reaches its forward."""

    model: Any
    optimizer: Any
    scheduler: Any
    params: list[Any]
    runtime: Runtime
    pad_token_id: int
    max_grad_norm: float | None
    study_compat: bool = False
    # A selection may map the batch onto another forward signature (Flamingo: lang_x, vision_x).
    model_inputs: ModelInputs = forward_inputs
    # Whether the forward can return logits for the last positions only (transformers' `logits_to_keep`).
    keeps_logits: bool = False

    def summed_loss(self, rows: Sequence[SupervisedFeatures]) -> tuple[Any, int]:
        """Forward one padded micro-batch; the summed answer loss and its token count."""
        batch = _to_device(
            pad_supervised_batch(rows, self.pad_token_id, study_compat=self.study_compat),
            self.runtime.device,
            self.runtime.load_dtype,
        )
        labels = batch["labels"]
        inputs = self.model_inputs(batch)
        keep = _answer_window(labels) if self.keeps_logits else 0
        if keep:
            inputs["logits_to_keep"] = keep
            labels = labels[:, -keep:]
        with self.runtime.autocast():
            logits = self.model(**inputs).logits
        return supervised_loss_sum(logits, labels)

    def step(self, micro_batches: GlobalBatch) -> float:
        """One optimizer step over the micro-batches of a global batch; loss normalised by its answer tokens."""
        runtime = self.runtime
        self.model.train()
        n_tokens = sum(sum(1 for t in f.labels[1:] if t != IGNORE_INDEX) for mb in micro_batches for f in mb)
        n_tokens = max(n_tokens, 1)
        step_loss = 0.0
        for rows in micro_batches:
            mine = rows[runtime.rank :: runtime.world_size]
            if not mine:
                continue
            loss_sum, _ = self.summed_loss(mine)
            # DDP averages gradients over processes; scaling by the world size keeps the per-token mean.
            runtime.backward(loss_sum * runtime.world_size / n_tokens)
            step_loss += float(loss_sum.detach()) / n_tokens
        if self.max_grad_norm is not None:
            runtime.clip_grad_norm(self.params, self.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        if runtime.world_size > 1:
            import torch

            step_loss = float(runtime.reduce_sum(torch.tensor(step_loss, device=runtime.device)))
        return step_loss


def build_trainer(
    model: Any,
    param_groups: Any,
    *,
    runtime: Runtime,
    learning_rate: float,
    lr_scheduler: str,
    warmup_ratio: float,
    total_steps: int,
    micro_batch_size: int,
    pad_token_id: int,
    max_grad_norm: float | None,
    study_compat: bool = False,
    model_inputs: ModelInputs = forward_inputs,
) -> Trainer:
    """AdamW over `param_groups`, the model placed by the runtime, and a warmup + `lr_scheduler` schedule."""
    import torch
    from transformers import get_scheduler

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(param_groups, lr=learning_rate)
    model, optimizer = runtime.prepare(model, optimizer, micro_batch_size)
    scheduler = get_scheduler(
        lr_scheduler,
        optimizer,
        num_warmup_steps=math.ceil(total_steps * warmup_ratio),
        num_training_steps=total_steps,
    )
    keeps_logits = model_inputs is forward_inputs and _takes_logits_to_keep(model)
    return Trainer(
        model, optimizer, scheduler, params, runtime, pad_token_id, max_grad_norm, study_compat, model_inputs,
        keeps_logits,
    )


def evaluate_loss(trainer: Trainer, features: Sequence[SupervisedFeatures], *, batch_size: int) -> float:
    """Token-weighted mean answer loss over `features` (each process takes a share; sums are reduced)."""
    import torch

    runtime = trainer.runtime
    trainer.model.eval()
    total = torch.zeros(2, dtype=torch.float64, device=runtime.device)
    shard = list(range(runtime.rank, len(features), runtime.world_size))
    with torch.no_grad():
        for start in range(0, len(shard), batch_size):
            loss, count = trainer.summed_loss([features[i] for i in shard[start : start + batch_size]])
            total[0] += loss.double()
            total[1] += count
    total = runtime.reduce_sum(total)
    if float(total[1]) == 0:
        raise ValueError("validation set: no labelled tokens (are all targets empty?)")
    return float(total[0] / total[1])


@contextlib.contextmanager
def progress_bar(enabled: bool, total: int, *, initial: int = 0, desc: str) -> Iterator[Any]:
    """A tqdm bar over optimizer steps, or None when disabled; closed however the loop ends."""
    if not enabled:
        yield None
        return
    from tqdm.auto import tqdm

    bar = tqdm(total=total, initial=initial, desc=desc, leave=False)
    try:
        yield bar
    finally:
        bar.close()


def run_steps(
    trainer: Trainer, batches: Iterable[GlobalBatch], *, bar: Any, on_step: Callable[[float], None]
) -> None:
    """The training loop: one optimizer step per global batch, the bar advanced, each loss handed to `on_step`."""
    for micro_batches in batches:
        loss = trainer.step(micro_batches)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4f}")
        on_step(loss)
