"""Turn (prompt, target) text pairs into token ids whose labels cover the answer only
(docs/protocol.md#supervised-targets, bug 9 fixed)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from medadapt.models.tokenization import default_add_special_tokens

__all__ = [
    "IGNORE_INDEX",
    "SupervisedFeatures",
    "SupervisedPair",
    "encode_pair",
    "encode_pairs",
    "prompt_add_special_tokens",
    "target_ids",
]

IGNORE_INDEX = -100


@dataclass(frozen=True)
class SupervisedPair:
    """What the model reads (`prompt`, with `images` for VLMs) and what it must learn to write (`target`)."""

    prompt: str
    target: str
    images: tuple[str, ...] = ()
    example_id: str = ""
    # None: add BOS unless the prompt starts with it; True/False: as medadapt-prompts decided for this text.
    add_special_tokens: bool | None = None
    # True when `target` already ends with the end-of-sequence/turn token text (medadapt-prompts' targets do).
    target_has_eos: bool = False


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


def prompt_add_special_tokens(tokenizer: Any, pair: SupervisedPair) -> bool:
    """Whether the tokenizer should add BOS: the pair's own decision, else the adapters' default (bug 7)."""
    if pair.add_special_tokens is not None:
        return pair.add_special_tokens
    return default_add_special_tokens(tokenizer, pair.prompt)


def target_ids(tokenizer: Any, pair: SupervisedPair, eos_token_id: int | None = None) -> list[int]:
    """Target ids ending in an end token: appended as an id, or checked when the target text carries it."""
    ids = list(tokenizer(pair.target, add_special_tokens=False)["input_ids"])
    if pair.target_has_eos:
        special = set(getattr(tokenizer, "all_special_ids", ()) or ())
        if not ids or ids[-1] not in special:
            raise ValueError(
                f"example {pair.example_id!r}: target_has_eos is set but {pair.target[-20:]!r} does not end in a "
                "special token of this tokenizer (is the EOS/end-of-turn token registered?)"
            )
        return ids
    eos = tokenizer.eos_token_id if eos_token_id is None else eos_token_id
    if eos is None:
        raise ValueError("tokenizer: has no eos_token_id; pass eos_token_id= explicitly")
    return [*ids, int(eos)]


def encode_pair(
    tokenizer: Any,
    pair: SupervisedPair,
    *,
    eos_token_id: int | None = None,
    max_length: int | None = None,
) -> SupervisedFeatures:
    """Tokenise prompt and target separately (docs/protocol.md#supervised-targets), end the target with EOS
    and mask the prompt's labels.

    The EOS is labelled, so the model learns to stop (study bug 9 fixed). Over-long examples raise instead of being cut,
    because cutting would silently drop the answer.
    """
    prompt_ids = list(
        tokenizer(pair.prompt, add_special_tokens=prompt_add_special_tokens(tokenizer, pair))["input_ids"]
    )
    answer_ids = target_ids(tokenizer, pair, eos_token_id)
    input_ids = prompt_ids + answer_ids
    if max_length is not None and len(input_ids) > max_length:
        raise ValueError(
            f"example {pair.example_id!r}: {len(input_ids)} tokens exceed max_length={max_length}; "
            "raise max_length or filter long examples"
        )
    labels = [IGNORE_INDEX] * len(prompt_ids) + answer_ids
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
