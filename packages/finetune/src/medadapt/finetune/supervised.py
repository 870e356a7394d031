"""Turn (prompt, target) text pairs into token ids whose labels cover the answer only (§3.7, bug 9 fixed)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["IGNORE_INDEX", "SupervisedFeatures", "SupervisedPair", "encode_pair", "encode_pairs"]

IGNORE_INDEX = -100


@dataclass(frozen=True)
class SupervisedPair:
    """What the model reads (`prompt`, with `images` for VLMs) and what it must learn to write (`target`)."""

    prompt: str
    target: str
    images: tuple[str, ...] = ()
    example_id: str = ""


@dataclass(frozen=True)
class SupervisedFeatures:
    """Token ids of prompt + target + EOS, and labels that are -100 on the prompt."""

    input_ids: tuple[int, ...]
    labels: tuple[int, ...]
    example_id: str = ""
    # Extra model inputs of one example (e.g. LLaVA's pixel_values), kept as tensors.
    extras: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.input_ids) != len(self.labels):
            raise ValueError(
                f"example {self.example_id!r}: input_ids has {len(self.input_ids)} tokens, labels {len(self.labels)}"
            )


def _encode_prompt(tokenizer: Any, prompt: str) -> list[int]:
    """Prompt ids with the tokenizer's BOS, unless the text already starts with it (no double BOS, bug 7)."""
    bos = getattr(tokenizer, "bos_token", None)
    already_has_bos = bool(bos) and prompt.startswith(bos)
    return list(tokenizer(prompt, add_special_tokens=not already_has_bos)["input_ids"])


def encode_pair(
    tokenizer: Any,
    pair: SupervisedPair,
    *,
    eos_token_id: int | None = None,
    max_length: int | None = None,
) -> SupervisedFeatures:
    """Tokenise prompt and target separately, append EOS to the target and mask the prompt's labels.

    The EOS id is appended as an id (not text), so a target that happens to contain the EOS string is not
    split oddly; it is labelled, so the model learns to stop. Over-long examples raise instead of being cut,
    because cutting would silently drop the answer.
    """
    eos = tokenizer.eos_token_id if eos_token_id is None else eos_token_id
    if eos is None:
        raise ValueError("tokenizer: has no eos_token_id; pass eos_token_id= explicitly")
    prompt_ids = _encode_prompt(tokenizer, pair.prompt)
    target_ids = list(tokenizer(pair.target, add_special_tokens=False)["input_ids"]) + [int(eos)]
    input_ids = prompt_ids + target_ids
    if max_length is not None and len(input_ids) > max_length:
        raise ValueError(
            f"example {pair.example_id!r}: {len(input_ids)} tokens exceed max_length={max_length}; "
            "raise max_length or filter long examples"
        )
    labels = [IGNORE_INDEX] * len(prompt_ids) + target_ids
    return SupervisedFeatures(tuple(input_ids), tuple(labels), pair.example_id)


def encode_pairs(
    tokenizer: Any,
    pairs: Sequence[SupervisedPair],
    *,
    eos_token_id: int | None = None,
    max_length: int | None = None,
) -> list[SupervisedFeatures]:
    """`encode_pair` over a sequence."""
    return [encode_pair(tokenizer, p, eos_token_id=eos_token_id, max_length=max_length) for p in pairs]
