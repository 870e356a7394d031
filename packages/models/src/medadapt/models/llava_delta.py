"""LLaVA-v0 / LLaVA-Med delta weights → a transformers Llava checkpoint (docs/protocol.md#models-and-pairs).

The released deltas hold `target - base` for every LLaMA-7B tensor (embeddings and lm_head grown by the added
image tokens) plus the absolute `mm_projector`. Merging adds the base back; converting maps the old
`LlavaLlamaForCausalLM` layout onto `LlavaForConditionalGeneration`: the single linear projector becomes
`linear_1` with an identity `linear_2` and a linear activation (exactly the same function), the vision tower
comes from the CLIP checkpoint the config names, features are layer −2 without CLS, and the image marker is
`<im_patch>` (wrapped in `<im_start>`…`<im_end>` by the llava-v0 prompt style when the model used them).
Weights are read from safetensors, or from torch `.bin` files with `weights_only=True` (no code execution).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from medadapt.models.cache import build_once

__all__ = ["convert_old_llava", "load_state_dict", "merge_delta", "merge_llava_delta"]

_PROJECTOR = "model.mm_projector."
_OLD_TOWER = "model.vision_tower."


def load_state_dict(directory: Path) -> dict[str, Any]:
    """All tensors of a checkpoint directory (sharded or not, safetensors preferred); names the missing files."""
    import torch
    from safetensors.torch import load_file

    directory = Path(directory)
    files = sorted(directory.glob("*.safetensors")) or sorted(directory.glob("pytorch_model*.bin"))
    if not files:
        raise FileNotFoundError(f"{directory}: no *.safetensors or pytorch_model*.bin weight files")
    state: dict[str, Any] = {}
    for file in files:
        part = (
            load_file(file)
            if file.suffix == ".safetensors"
            else torch.load(file, map_location="cpu", weights_only=True)
        )
        state.update(part)
    return state


def merge_delta(base: dict[str, Any], delta: dict[str, Any]) -> dict[str, Any]:
    """target = delta + base, tensor by tensor; rows added to grown embeddings keep the delta's values."""
    merged: dict[str, Any] = {}
    for name, tensor in delta.items():
        if name not in base:
            merged[name] = tensor.clone()  # e.g. mm_projector: stored absolute
            continue
        original = base[name].to(tensor.dtype)
        if original.shape == tensor.shape:
            merged[name] = tensor + original
        elif (
            original.dim() == tensor.dim()
            and original.shape[1:] == tensor.shape[1:]
            and original.shape[0] < tensor.shape[0]
        ):
            grown = tensor.clone()
            grown[: original.shape[0]] += original
            merged[name] = grown
        else:
            raise ValueError(
                f"merge_delta: {name}: base shape {tuple(original.shape)} vs delta {tuple(tensor.shape)}"
            )
    return merged


def convert_old_llava(
    merged: dict[str, Any], merged_config: dict[str, Any], tokenizer: Any, vision_dir: Path, out_dir: Path
) -> None:
    """Write a LlavaForConditionalGeneration + LlavaProcessor for old-layout merged weights into `out_dir`."""
    import torch
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        CLIPVisionModel,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    vision_config = CLIPVisionConfig.from_pretrained(vision_dir)
    vision = CLIPVisionModel.from_pretrained(vision_dir)
    text_keys = {
        k: v for k, v in merged_config.items() if k in LlamaConfig().to_dict() and not k.startswith("mm_")
    }
    text_keys.pop("architectures", None)
    text_config = LlamaConfig(**{**text_keys, "vocab_size": len(tokenizer)})
    image_token = "<im_patch>"
    if image_token not in tokenizer.get_vocab():
        raise ValueError(f"convert_old_llava: the delta's tokenizer has no {image_token!r} token")
    hidden = text_config.hidden_size
    config = LlavaConfig(  # type: ignore[call-arg]
        vision_config=vision_config,
        text_config=text_config,
        image_token_index=tokenizer.convert_tokens_to_ids(image_token),
        vision_feature_select_strategy="default",
        vision_feature_layer=int(merged_config.get("mm_vision_select_layer", -2)),
        projector_hidden_act="linear",
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.device("meta"):
        model = LlavaForConditionalGeneration(config)
    inner = model.model
    trunk = {
        k[len("model.") :]: v
        for k, v in merged.items()
        if k.startswith("model.") and not k.startswith((_PROJECTOR, _OLD_TOWER))
    }
    inner.language_model.load_state_dict(trunk, strict=True, assign=True)
    model.lm_head.load_state_dict({"weight": merged["lm_head.weight"]}, assign=True)
    inner.vision_tower.load_state_dict(vision.state_dict(), strict=True, assign=True)
    weight, bias = merged[_PROJECTOR + "weight"], merged[_PROJECTOR + "bias"]
    eye = torch.eye(hidden, dtype=weight.dtype)
    inner.multi_modal_projector.load_state_dict(
        {
            "linear_1.weight": weight,
            "linear_1.bias": bias,
            "linear_2.weight": eye,
            "linear_2.bias": torch.zeros(hidden, dtype=weight.dtype),
        },
        assign=True,
    )
    missing = [n for n, p in model.named_parameters() if p.is_meta]
    if missing:
        raise RuntimeError(f"convert_old_llava: no weights for {missing[:5]}")
    model.tie_weights() if text_config.tie_word_embeddings else None
    size = int(vision_config.image_size)  # type: ignore[arg-type]
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessor(
            size={"shortest_edge": size}, crop_size={"height": size, "width": size}
        ),
        tokenizer=tokenizer,
        patch_size=vision_config.patch_size,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        image_token=image_token,
    )
    model.eval().save_pretrained(out_dir)
    processor.save_pretrained(out_dir)


def merge_llava_delta(base: str | Path, delta: str | Path, vision_tower: str | Path, out: str | Path) -> Path:
    """Merge a LLaVA delta into LLaMA-7B weights and convert to transformers' Llava layout (cached by recipe)."""
    from transformers import AutoTokenizer

    base, delta, vision_tower = Path(base), Path(delta), Path(vision_tower)
    for label, directory in (("base", base), ("delta", delta), ("vision tower", vision_tower)):
        if not (directory / "config.json").is_file():
            raise FileNotFoundError(f"merge_llava_delta: {label}: missing file {directory / 'config.json'}")
    recipe = {
        "kind": "llava-delta-merge",
        "base": str(base.resolve()),
        "delta": str(delta.resolve()),
        "vision_tower": str(vision_tower.resolve()),
        "version": 1,
    }

    def build(tmp: Path) -> None:
        merged = merge_delta(load_state_dict(base), load_state_dict(delta))
        config = json.loads((delta / "config.json").read_text(encoding="utf-8"))
        convert_old_llava(merged, config, AutoTokenizer.from_pretrained(delta), vision_tower, tmp)

    return build_once(Path(out), recipe, build)
