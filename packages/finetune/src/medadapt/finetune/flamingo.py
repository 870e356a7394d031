"""Flamingo parameter-efficient tuning (docs/protocol.md#vlm-fine-tuning): the perceiver resampler, gated
cross-attention, two embedding rows.

Selection is by module names (`perceiver`, `gated_cross_attn`), so it applies to open-flamingo's model and to
Med-Flamingo without importing open_flamingo; the language model and vision encoder stay frozen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from medadapt.finetune.parameters import weight_decay_groups
from medadapt.finetune.supervised import (
    IGNORE_INDEX,
    SupervisedFeatures,
    SupervisedPair,
    prompt_add_special_tokens,
    target_ids,
)

__all__ = [
    "FLAMINGO_TRAINABLE_PARTS",
    "FlamingoProcessor",
    "FlamingoSelection",
    "encode_flamingo_pair",
    "encode_flamingo_pairs",
    "mask_embedding_rows",
]

IMAGE_MARKER = "<image>"
END_OF_CHUNK = "<|endofchunk|>"

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


@dataclass(frozen=True)
class FlamingoProcessor:
    """open-flamingo's tokenizer (with `<image>`, `<|endofchunk|>`) and open_clip image transform."""

    tokenizer: Any
    image_processor: Any

    def special_token_ids(self) -> tuple[int, int]:
        """Ids of `<image>` and `<|endofchunk|>`: the embedding rows Flamingo tuning trains."""
        ids = self.tokenizer.convert_tokens_to_ids
        return int(ids(IMAGE_MARKER)), int(ids(END_OF_CHUNK))

    def save_pretrained(self, out_dir: Any) -> None:
        """The tokenizer, saved beside the trained weights."""
        self.tokenizer.save_pretrained(out_dir)


def encode_flamingo_pair(
    processor: FlamingoProcessor, pair: SupervisedPair, *, max_length: int | None = None
) -> SupervisedFeatures:
    """Prompt ids (one `<image>` per image; untagged images go first, as medadapt-models' Flamingo adapter puts
    them), target ids, and `pixel_values` [1, images, 1, C, H, W] (a blank image when the pair has none)."""
    import torch
    from PIL import Image

    tokenizer = processor.tokenizer
    tags = pair.prompt.count(IMAGE_MARKER)
    if tags > len(pair.images):
        raise ValueError(
            f"example {pair.example_id!r}: prompt has {tags} {IMAGE_MARKER!r} tags for {len(pair.images)} images"
        )
    prompt = IMAGE_MARKER * (len(pair.images) - tags) + pair.prompt
    prompt_ids = list(
        tokenizer(prompt, add_special_tokens=prompt_add_special_tokens(tokenizer, pair))["input_ids"]
    )
    answer_ids = target_ids(tokenizer, pair)
    input_ids = prompt_ids + answer_ids
    if max_length is not None and len(input_ids) > max_length:
        raise ValueError(f"example {pair.example_id!r}: {len(input_ids)} tokens exceed max_length={max_length}")
    images = []
    for path in pair.images or ():
        with Image.open(path) as image:
            images.append(image.convert("RGB"))
    pixels = torch.stack([processor.image_processor(i) for i in images or [Image.new("RGB", (224, 224))]])
    features = SupervisedFeatures(
        tuple(input_ids), tuple([IGNORE_INDEX] * len(prompt_ids) + answer_ids), pair.example_id
    )
    return replace(features, extras={"pixel_values": pixels.unsqueeze(1).unsqueeze(0)})


def encode_flamingo_pairs(
    processor: FlamingoProcessor, pairs: Sequence[SupervisedPair], *, max_length: int | None = None
) -> list[SupervisedFeatures]:
    """`encode_flamingo_pair` over a sequence."""
    return [encode_flamingo_pair(processor, p, max_length=max_length) for p in pairs]


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
