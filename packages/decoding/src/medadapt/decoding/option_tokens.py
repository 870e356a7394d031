"""Which vocabulary ids stand for each answer option (bare ``A``, ``▁A``, ``ĠA``, ...) for a given tokenizer.

Policies:
- ``"study"``: the single vocabulary entry whose string is exactly the label (STUDY.md §5.4,
  ``convert_tokens_to_ids("A")``); an unknown label maps to the unk id as in the study.
- ``"variants"`` (default): every entry that spells the label with or without a leading-space marker
  (``A``, ``▁A``, ``ĠA``, `` A``) plus the first token the tokenizer itself produces for the label after
  ``prompt_tail``; scores are combined with ``combine_variants`` (log-sum-exp over the variants).

Word options (``yes``/``no``, VQA answers) that take several tokens: ``ids`` holds each variant's *first* token
(first-token scoring: one forward pass, exact when the first tokens differ between options), and ``sequences``
holds each variant's full tokenisation for full-sequence scoring (teacher-forced sum of the token log-probs,
one pass per option; exact, and what to use when options share a first token).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

POLICIES = ("variants", "study")
_SPACE_MARKERS = ("", "▁", "Ġ", " ")


@dataclass(frozen=True)
class OptionTokens:
    """Per option, the token ids that start it (``ids``) and its full tokenisations (``sequences``)."""

    labels: tuple[str, ...]
    ids: tuple[tuple[int, ...], ...]
    sequences: tuple[tuple[tuple[int, ...], ...], ...]
    policy: str = "variants"

    @property
    def n_options(self) -> int:
        """Number of options."""
        return len(self.labels)

    @property
    def width(self) -> int:
        """Most variants of any option (M of ``padded``)."""
        return max((len(v) for v in self.ids), default=0)

    def padded(self) -> np.ndarray:
        """int64 [K, M] variant ids, -1 where an option has fewer than M variants."""
        table = np.full((self.n_options, max(self.width, 1)), -1, dtype=np.int64)
        for row, variants in enumerate(self.ids):
            table[row, : len(variants)] = variants
        return table

    def allowed_ids(self) -> np.ndarray:
        """int64 [K*M], the padded table flattened: one allowed-ids row for ``constrained_logprobs``."""
        return self.padded().reshape(-1)


def combine_variants(logprobs_of_variants: np.ndarray, option_tokens: OptionTokens) -> np.ndarray:
    """[B, K*M] or [B, K, M] log-probs of ``option_tokens.allowed_ids()`` → [B, K] per option (log-sum-exp)."""
    lp = np.asarray(logprobs_of_variants, dtype=np.float64)
    k, m = option_tokens.n_options, max(option_tokens.width, 1)
    if lp.ndim == 2 and lp.shape[1] == k * m:
        lp = lp.reshape(lp.shape[0], k, m)
    if lp.ndim != 3 or lp.shape[1:] != (k, m):
        raise ValueError(f"logprobs_of_variants: expected [B, {k * m}] or [B, {k}, {m}], got {lp.shape}")
    lp = np.where(option_tokens.padded()[None] >= 0, lp, -np.inf)
    top = lp.max(axis=2, keepdims=True)
    safe = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        out = safe[..., 0] + np.log(np.exp(lp - safe).sum(axis=2))
    return np.where(np.isneginf(top[..., 0]), -np.inf, out)


def option_token_ids(
    tokenizer: object, labels: Sequence[str], prompt_tail: str = "", policy: str = "variants"
) -> OptionTokens:
    """Token ids that start each option label for this tokenizer (HF fast/slow, ``tokenizers``, sentencepiece-style)."""
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
    labels = tuple(labels)
    if not labels or any(not isinstance(label, str) or not label for label in labels):
        raise ValueError(f"labels: expected non-empty strings, got {labels!r}")
    if policy == "study":
        ids = tuple((_token_to_id(tokenizer, label),) for label in labels)
        return OptionTokens(labels, ids, tuple(((i,),) for (i,) in ids), policy)
    vocab = _vocab(tokenizer)
    all_ids, all_seqs = [], []
    for label in labels:
        first: list[int] = []
        seqs: list[tuple[int, ...]] = []
        for marker in _SPACE_MARKERS:
            token_id = vocab.get(marker + label)
            if token_id is not None and token_id not in first:
                first.append(token_id)
                seqs.append((token_id,))
        for joiner in ("", " "):
            continuation = _continuation(tokenizer, prompt_tail, joiner + label)
            if continuation and continuation not in seqs:
                seqs.append(continuation)
                if continuation[0] not in first:
                    first.append(continuation[0])
        if not first:
            raise ValueError(f"labels: {label!r} has no token in this tokenizer's vocabulary")
        all_ids.append(tuple(first))
        all_seqs.append(tuple(seqs))
    owner: dict[int, str] = {}
    for label, variants in zip(labels, all_ids, strict=True):
        for token_id in variants:
            if owner.setdefault(token_id, label) != label:
                raise ValueError(
                    f"labels: {owner[token_id]!r} and {label!r} share first token id {token_id}; "
                    "use full-sequence scoring (OptionTokens.sequences) for these options"
                )
    return OptionTokens(labels, tuple(all_ids), tuple(all_seqs), policy)


def _vocab(tokenizer: object) -> dict[str, int]:
    """String → id map; byte keys (tiktoken-style) are decoded so that b" A" reads as " A"."""
    get_vocab = getattr(tokenizer, "get_vocab", None)
    if get_vocab is None:
        raise TypeError("tokenizer: needs get_vocab() (HF-tokenizer-like object)")
    vocab = {}
    for key, value in get_vocab().items():
        if isinstance(key, bytes):
            try:
                key = key.decode("utf-8")
            except UnicodeDecodeError:
                continue
        vocab[key] = int(value)
    return vocab


def _token_to_id(tokenizer: object, token: str) -> int:
    """``convert_tokens_to_ids`` (HF) or ``token_to_id`` (tokenizers); the unk id when unknown, as the study did."""
    convert = getattr(tokenizer, "convert_tokens_to_ids", None)
    token_id = convert(token) if convert is not None else tokenizer.token_to_id(token)  # type: ignore[attr-defined]
    if token_id is None:  # tokenizers.Tokenizer answers None where HF answers the unk id
        unk = getattr(getattr(tokenizer, "model", None), "unk_token", None)
        token_id = tokenizer.token_to_id(unk) if unk else None  # type: ignore[attr-defined]
    if token_id is None:
        raise ValueError(f"labels: {token!r} is not a vocabulary entry and the tokenizer has no unk token")
    return int(token_id)


def _encode(tokenizer: object, text: str) -> list[int]:
    """Token ids of text without special tokens (HF returns a list; tokenizers.Tokenizer an Encoding)."""
    encoded = tokenizer.encode(text, add_special_tokens=False)  # type: ignore[attr-defined]
    return [int(i) for i in getattr(encoded, "ids", encoded)]


def _continuation(tokenizer: object, prompt_tail: str, text: str) -> tuple[int, ...]:
    """Tokens the tokenizer adds for ``text`` after ``prompt_tail`` (where the two tokenisations diverge)."""
    if not prompt_tail:
        return tuple(_encode(tokenizer, text))
    head = _encode(tokenizer, prompt_tail)
    full = _encode(tokenizer, prompt_tail + text)
    common = 0
    while common < min(len(head), len(full)) and head[common] == full[common]:
        common += 1
    if common < len(head):  # the tail's last token merged with the label: no clean next token
        return ()
    return tuple(full[common:])
