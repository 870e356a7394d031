"""Flamingo parameter-efficient tuning (docs/protocol.md#vlm-fine-tuning): the perceiver resampler, gated
cross-attention, two embedding rows.

Selection is by module names (`perceiver`, `gated_cross_attn`), so it applies to open-flamingo's model and to
Med-Flamingo without importing open_flamingo; the language model and vision encoder stay frozen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medadapt.finetune.parameters import weight_decay_groups

__all__ = ["FLAMINGO_TRAINABLE_PARTS", "FlamingoSelection", "mask_embedding_rows"]

# Name parts of the trainable modules, as open-flamingo names them.
FLAMINGO_TRAINABLE_PARTS: tuple[str, ...] = ("perceiver", "gated_cross_attn")


def _input_embeddings(model: Any) -> Any:
    """The LM's input embedding module (open-flamingo keeps the LM at `lang_encoder`)."""
    lm = getattr(model, "lang_encoder", model)
    if not hasattr(lm, "get_input_embeddings"):
        raise TypeError(
            f"model {type(model).__name__}: no lang_encoder.get_input_embeddings() to tune rows of"
        )
    return lm.get_input_embeddings()


def mask_embedding_rows(embedding: Any, rows: tuple[int, ...]) -> Any:
    """Let only `rows` of an embedding matrix receive gradients (hook zeroes the others); returns the handle."""
    import torch

    n = embedding.weight.shape[0]
    bad = [r for r in rows if not 0 <= r < n]
    if bad:
        raise ValueError(f"rows: token ids {bad} are outside the embedding matrix of {n} rows")
    keep = torch.zeros(n, 1, dtype=embedding.weight.dtype, device=embedding.weight.device)
    keep[list(rows)] = 1
    embedding.weight.requires_grad_(True)
    return embedding.weight.register_hook(lambda grad: grad * keep.to(grad.device, grad.dtype))


@dataclass
class FlamingoSelection:
    """Freeze everything, then train the resampler, the gated cross-attention and the `<image>`/`<|endofchunk|>` rows.

    AdamW weight decay applies to gated cross-attention parameters only, as in the study.
    """

    special_token_ids: tuple[int, ...]
    trainable_parts: tuple[str, ...] = FLAMINGO_TRAINABLE_PARTS
    _hooks: list[Any] = field(default_factory=list, repr=False)

    def apply(self, model: Any) -> Any:
        """Set requires_grad by module name and hook the embedding gradient mask."""
        for name, param in model.named_parameters():
            param.requires_grad_(
                any(part in name.split(".") or part in name for part in self.trainable_parts)
            )
        if not any(p.requires_grad for p in model.parameters()):
            raise ValueError(
                f"model {type(model).__name__}: no parameter name contains any of {list(self.trainable_parts)}"
            )
        self._hooks.append(mask_embedding_rows(_input_embeddings(model), self.special_token_ids))
        return model

    def model_inputs(self, batch: dict[str, Any]) -> dict[str, Any]:
        """open-flamingo's forward names: lang_x (token ids), vision_x [B, images, frames, C, H, W], attention_mask."""
        if "pixel_values" not in batch:
            raise ValueError(
                "Flamingo batch: needs 'pixel_values' shaped [B, images, frames, C, H, W] in the extras"
            )
        return {
            "vision_x": batch["pixel_values"],
            "lang_x": batch["input_ids"],
            "attention_mask": batch["attention_mask"],
        }

    def param_groups(self, model: Any, weight_decay: float) -> list[dict[str, Any]]:
        """Decay only on gated cross-attention weights."""
        return weight_decay_groups(model, weight_decay, decay_only="gated_cross_attn")

    def save_trained(self, model: Any, out_dir: Path) -> None:
        """The trainable tensors (incl. the full embedding matrix) as trainable.safetensors + a JSON manifest."""
        import json

        from safetensors.torch import save_file

        from medadapt.finetune.checkpoint import trainable_state_dict

        tensors = trainable_state_dict(model)
        save_file(tensors, str(out_dir / "trainable.safetensors"))
        manifest = {
            "kind": "flamingo-peft",
            "parts": list(self.trainable_parts),
            "tokens": list(self.special_token_ids),
        }
        (out_dir / "flamingo_peft.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
