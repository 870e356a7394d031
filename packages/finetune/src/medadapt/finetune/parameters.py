"""What trains in a model and how the trained part is saved: LoRA adapters, or Flamingo's named modules."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from medadapt.finetune.lora import attach_lora
from medadapt.finetune.spec import LoraConfigSpec

__all__ = ["LoraSelection", "ParameterSelection", "weight_decay_groups"]


class ParameterSelection(Protocol):
    """Turns a frozen base into a model whose trainable parameters are the ones to tune."""

    def apply(self, model: Any) -> Any:
        """Return the model to train (may wrap `model`)."""
        ...

    def param_groups(self, model: Any, weight_decay: float) -> list[dict[str, Any]]:
        """Optimizer parameter groups over the trainable parameters."""
        ...

    def save_trained(self, model: Any, out_dir: Path) -> None:
        """Write what was trained so that an evaluator can load it."""
        ...


def weight_decay_groups(
    model: Any, weight_decay: float, decay_only: str | None = None
) -> list[dict[str, Any]]:
    """Trainable params split into decayed / not decayed; `decay_only` limits decay to names containing it."""
    decay: list[Any] = []
    no_decay: list[Any] = []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        wants_decay = weight_decay > 0 and param.ndim >= 2 and (decay_only is None or decay_only in name)
        (decay if wants_decay else no_decay).append(param)
    if not decay and not no_decay:
        raise ValueError(f"model {type(model).__name__}: no trainable parameters to optimise")
    groups = [{"params": no_decay, "weight_decay": 0.0}]
    if decay:
        groups.append({"params": decay, "weight_decay": weight_decay})
    return groups


@dataclass(frozen=True)
class LoraSelection:
    """LoRA on every linear leaf outside the excluded parts of `kind` (causal-lm or llava)."""

    spec: LoraConfigSpec
    kind: str = "causal-lm"

    def apply(self, model: Any) -> Any:
        """Freeze the base and add LoRA matrices."""
        return attach_lora(model, self.spec, kind=self.kind)

    def param_groups(self, model: Any, weight_decay: float) -> list[dict[str, Any]]:
        """All LoRA matrices decay alike (the study uses weight decay 0)."""
        return weight_decay_groups(model, weight_decay)

    def save_trained(self, model: Any, out_dir: Path) -> None:
        """peft's adapter layout (adapter_config.json + adapter_model.safetensors), written here rather than by
        `save_pretrained`, which also renders a README model card per call: most of the time of saving a sweep's
        small adapters, and nothing an evaluator reads."""
        import copy

        from peft import get_peft_model_state_dict
        from safetensors.torch import save_file

        name = model.active_adapter
        state = get_peft_model_state_dict(model, adapter_name=name)
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        save_file(
            {key: value.detach().cpu().contiguous() for key, value in state.items()},
            str(Path(out_dir) / "adapter_model.safetensors"),
            metadata={"format": "pt"},
        )
        config = copy.copy(model.peft_config[name])
        config.inference_mode = True  # as peft saves it: a loaded adapter is frozen unless asked otherwise
        config.save_pretrained(str(out_dir))
