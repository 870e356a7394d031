"""LLaVA supervised examples: image markers expanded to the tower's patches, pixel_values; labels cover the answer only."""

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
    processor: Any, pair: SupervisedPair, *, max_length: int | None = None, per_image: int | None = None
) -> SupervisedFeatures:
    """Prompt with its image markers expanded as the LLaVA adapter does at inference, target + EOS after it.

    The prompt may hold one marker per image (HF LLaVA) or already one per patch (the study's LLaVA-v0 layout,
    `<im_start><im_patch>…<im_end>`); `per_image` is the tower's patch count (measured when not given).
    """
    from medadapt.models.llava import expand_image_markers, image_tokens_per_marker

    tokenizer = processor.tokenizer
    image_token = str(getattr(processor, "image_token", "<image>"))
    per_image = image_tokens_per_marker(processor) if per_image is None else per_image
    try:
        text = expand_image_markers(pair.prompt, len(pair.images), image_token, per_image)
    except ValueError as error:
        raise ValueError(f"example {pair.example_id!r}: {error}") from None
    prompt_ids = list(
        tokenizer(text, add_special_tokens=prompt_add_special_tokens(tokenizer, pair))["input_ids"]
    )
    answer_ids = target_ids(tokenizer, pair)
    input_ids = prompt_ids + answer_ids
    if max_length is not None and len(input_ids) > max_length:
        raise ValueError(
            f"example {pair.example_id!r}: {len(input_ids)} tokens exceed max_length={max_length}"
        )
    extras: dict[str, Any] = {}
    if pair.images:
        images = [_open_image(p) for p in pair.images]
        extras["pixel_values"] = processor.image_processor(images=images, return_tensors="pt")["pixel_values"]
    features = SupervisedFeatures(
        tuple(input_ids), tuple([IGNORE_INDEX] * len(prompt_ids) + answer_ids), pair.example_id
    )
    return replace(features, extras=extras)


def encode_vlm_pairs(
    processor: Any, pairs: Sequence[SupervisedPair], *, max_length: int | None = None
) -> list[SupervisedFeatures]:
    """`encode_vlm_pair` over a sequence (the patch count measured once)."""
    from medadapt.models.llava import image_tokens_per_marker

    per_image = image_tokens_per_marker(processor)
    return [encode_vlm_pair(processor, p, max_length=max_length, per_image=per_image) for p in pairs]
