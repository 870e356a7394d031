"""LLaVA supervised examples: the processor expands `<image>` and yields pixel_values; labels cover the answer only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from medadapt.finetune.supervised import (
    IGNORE_INDEX,
    SupervisedFeatures,
    SupervisedPair,
    prompt_add_special_tokens,
    target_ids,
)

__all__ = ["encode_vlm_pair", "encode_vlm_pairs"]


def _open_image(path: str) -> Any:
    from PIL import Image

    with Image.open(path) as image:
        return image.convert("RGB")


def encode_vlm_pair(
    processor: Any, pair: SupervisedPair, *, max_length: int | None = None
) -> SupervisedFeatures:
    """Prompt (with one image token per image) through the processor, target + EOS through its tokenizer."""
    tokenizer = processor.tokenizer
    image_token = str(getattr(processor, "image_token", "<image>"))
    n_tags = pair.prompt.count(image_token)
    if n_tags > len(pair.images):
        raise ValueError(
            f"example {pair.example_id!r}: prompt has {n_tags} {image_token!r} tags for {len(pair.images)} images"
        )
    # As medadapt-models' LLaVA adapter does at inference: images without a tag go first, one tag + newline each.
    prompt = (image_token + "\n") * (len(pair.images) - n_tags) + pair.prompt
    images = [_open_image(p) for p in pair.images] or None
    encoded = processor(
        text=prompt,
        images=images,
        return_tensors="pt",
        add_special_tokens=prompt_add_special_tokens(tokenizer, replace(pair, prompt=prompt)),
    )
    prompt_ids = encoded["input_ids"][0].tolist()
    answer_ids = target_ids(tokenizer, pair)
    input_ids = prompt_ids + answer_ids
    if max_length is not None and len(input_ids) > max_length:
        raise ValueError(
            f"example {pair.example_id!r}: {len(input_ids)} tokens exceed max_length={max_length}"
        )
    extras = {k: v for k, v in encoded.items() if k not in ("input_ids", "attention_mask")}
    features = SupervisedFeatures(
        tuple(input_ids), tuple([IGNORE_INDEX] * len(prompt_ids) + answer_ids), pair.example_id
    )
    return replace(features, extras=extras)


def encode_vlm_pairs(
    processor: Any, pairs: Sequence[SupervisedPair], *, max_length: int | None = None
) -> list[SupervisedFeatures]:
    """`encode_vlm_pair` over a sequence."""
    return [encode_vlm_pair(processor, p, max_length=max_length) for p in pairs]
