"""Which layers get LoRA (every linear leaf outside the excluded parts,
docs/protocol.md#lora-sweep-and-selection and #vlm-fine-tuning) and attaching it with peft."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterable, Iterator
from typing import Any

from medadapt.finetune.spec import LoraConfigSpec

__all__ = ["LORA_EXCLUDED_MODULES", "attach_lora", "linear_target_modules", "peft_deprecation_quiet"]

# Module-name parts that never get LoRA, per model kind (data, not name checks scattered in code).
LORA_EXCLUDED_MODULES: dict[str, tuple[str, ...]] = {
    "causal-lm": ("lm_head",),
    # LLaVA: only the language model's linears; vision tower and projector stay as they are
    # (docs/protocol.md#vlm-fine-tuning).
    "llava": ("lm_head", "vision_tower", "multi_modal_projector", "mm_projector", "vision_resampler"),
}


def linear_target_modules(model: Any, exclude: Iterable[str] = ("lm_head",)) -> list[str]:
    """Full names of every `nn.Linear` leaf whose dotted path contains none of the `exclude` parts."""
    import torch

    excluded = tuple(exclude)
    names: list[str] = []
    for name, module in model.named_modules():
        if not isinstance(module, torch.nn.Linear):
            continue
        parts = name.split(".")
        if any(part in parts for part in excluded):
            continue
        names.append(name)
    if not names:
        raise ValueError(
            f"model {type(model).__name__}: no nn.Linear layers left after excluding {list(excluded)}"
        )
    return names


def attach_lora(model: Any, spec: LoraConfigSpec, *, kind: str = "causal-lm") -> Any:
    """Wrap `model` in a peft LoRA model as the study configures it; returns the PeftModel."""
    from peft import LoraConfig, get_peft_model

    if kind not in LORA_EXCLUDED_MODULES:
        raise ValueError(f"kind: expected one of {sorted(LORA_EXCLUDED_MODULES)}, got {kind!r}")
    if spec.target_modules == "all-linear":
        # Exact full names as a regex-free list; peft matches a list entry against the end of module names.
        targets: list[str] | str = linear_target_modules(model, LORA_EXCLUDED_MODULES[kind])
    else:
        targets = list(spec.target_modules)
    config = LoraConfig(
        r=spec.r,
        lora_alpha=spec.alpha,
        lora_dropout=spec.dropout,
        bias=spec.bias,
        use_rslora=spec.use_rslora,
        target_modules=targets,
        modules_to_save=list(spec.modules_to_save) or None,
        task_type="CAUSAL_LM",
    )
    with peft_deprecation_quiet():
        return get_peft_model(model, config)


@contextlib.contextmanager
def peft_deprecation_quiet() -> Iterator[None]:
    """peft reads transformers' deprecated `is_gradient_checkpointing`; the warning is theirs, not the user's."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r"`is_gradient_checkpointing` is deprecated", category=FutureWarning
        )
        yield
