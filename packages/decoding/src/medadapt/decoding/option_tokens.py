"""Which vocabulary ids stand for each answer option (bare ``A``, ``▁A``, ``ĠA``, ...) for a given tokenizer.

Policies:
- ``"study"``: the single vocabulary entry whose string is exactly the label
(docs/protocol.md#constrained-decoding,
  ``convert_tokens_to_ids("A")``); an unknown label maps to the unk id as in the study.
- ``"variants"`` (default): every entry that spells the label with or without a leading-space marker
  (``A``, ``▁A``, ``ĠA``, `` A``) plus the first token the tokenizer itself produces for the label after
  ``prompt_tail``; scores are combined with ``combine_variants`` (log-sum-exp over the variants). A tokenisation
  whose first text-carrying token is the unk token is no variant (``<unk>`` stands for any missing character); a
  label left with none raises.

Word options (``yes``/``no``, VQA answers) that take several tokens: ``ids`` holds each variant's *first* token
(first-token scoring: one forward pass, exact when the first tokens differ between options), and ``sequences``
holds each variant's full tokenisation for full-sequence scoring (teacher-forced sum of the token log-probs,
one pass per option; exact, and what to use when options share a first token).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

POLICIES = ("variants", "study")
_SPACE_MARKERS = ("", "▁", "Ġ", " ")
# duck types recognised besides the HF one (get_vocab/encode/convert_tokens_to_ids)
_TIKTOKEN_API = ("encode_single_token", "decode_single_token_bytes", "encode_ordinary", "n_vocab")
_SENTENCEPIECE_API = ("piece_to_id", "id_to_piece", "get_piece_size", "unk_id")


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
    """Token ids that start each option label for this tokenizer.

    Accepted tokenizers: HF fast and slow (sentencepiece-backed) tokenizers, ``tokenizers.Tokenizer``, a raw
    ``sentencepiece.SentencePieceProcessor``, a ``tiktoken.Encoding``, or any object with ``get_vocab()`` (str- or
    bytes-keyed), ``encode(text, add_special_tokens=False)`` and ``convert_tokens_to_ids()`` or ``token_to_id()``;
    anything else raises ``TypeError`` naming what is missing.
    """
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
    labels = tuple(labels)
    if not labels or any(not isinstance(label, str) or not label for label in labels):
        raise ValueError(f"labels: expected non-empty strings, got {labels!r}")
    backend = _backend(tokenizer)
    if policy == "study":
        ids = tuple((_study_id(backend, label),) for label in labels)
        return OptionTokens(labels, ids, tuple(((i,),) for (i,) in ids), policy)
    vocab = backend.vocab()
    blank_ids = {vocab[marker] for marker in _SPACE_MARKERS[1:] if marker in vocab}
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
            continuation = _continuation(backend, prompt_tail, joiner + label)
            if continuation in seqs or not _starts_with_text(continuation, backend.unk_id, blank_ids):
                continue
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


@dataclass(frozen=True)
class _Backend:
    """The three things option_token_ids asks of a tokenizer, whatever its library."""

    vocab: Callable[[], dict[str, int]]  # piece string -> id (byte pieces decoded; undecodable ones left out)
    token_to_id: Callable[[str], int | None]  # id of the entry spelled exactly so; unk id or None if absent
    encode: Callable[[str], list[int]]  # ids of the text without special tokens
    unk_id: int | None


def _backend(tokenizer: object) -> _Backend:
    """Adapter for an HF/``tokenizers`` tokenizer, a SentencePieceProcessor or a tiktoken Encoding (duck-typed)."""
    if all(hasattr(tokenizer, name) for name in _TIKTOKEN_API):
        return _tiktoken_backend(tokenizer)
    if all(hasattr(tokenizer, name) for name in _SENTENCEPIECE_API):
        return _sentencepiece_backend(tokenizer)
    missing = [f"{name}()" for name in ("get_vocab", "encode") if not hasattr(tokenizer, name)]
    convert = getattr(tokenizer, "convert_tokens_to_ids", None) or getattr(tokenizer, "token_to_id", None)
    if convert is None:
        missing.append("convert_tokens_to_ids() or token_to_id()")
    if missing:
        raise TypeError(
            f"tokenizer: {type(tokenizer).__name__} lacks {', '.join(missing)}; expected an HF tokenizer, a "
            "tokenizers.Tokenizer, a sentencepiece.SentencePieceProcessor or a tiktoken.Encoding"
        )
    return _Backend(
        vocab=lambda: _decoded_vocab(tokenizer.get_vocab()),  # type: ignore[attr-defined]
        token_to_id=convert,
        encode=lambda text: _hf_encode(tokenizer, text),
        unk_id=_hf_unk_id(tokenizer, convert),
    )


def _decoded_vocab(raw: dict[str | bytes, int]) -> dict[str, int]:
    """String → id map; byte keys (tiktoken-style) are decoded so that b" A" reads as " A"."""
    vocab = {}
    for key, value in raw.items():
        if isinstance(key, bytes):
            try:
                key = key.decode("utf-8")
            except UnicodeDecodeError:
                continue
        vocab[key] = int(value)
    return vocab


def _hf_encode(tokenizer: object, text: str) -> list[int]:
    """Token ids of text without special tokens (HF returns a list; tokenizers.Tokenizer an Encoding)."""
    encoded = tokenizer.encode(text, add_special_tokens=False)  # type: ignore[attr-defined]
    return [int(i) for i in getattr(encoded, "ids", encoded)]


def _hf_unk_id(tokenizer: object, convert: Callable[[str], int | None]) -> int | None:
    """The id of the unk token (HF ``special_tokens_map``, tokenizers' ``model.unk_token``); None when there is none.

    (Not ``unk_token_id``: HF may log an error for it on tokenizers without one, e.g. byte-level BPE.)
    """
    special = getattr(tokenizer, "special_tokens_map", None)
    unk = special.get("unk_token") if isinstance(special, dict) else None
    if unk is None:
        unk = getattr(getattr(tokenizer, "model", None), "unk_token", None)
    unk_id = convert(unk) if isinstance(unk, str) and unk else None
    return None if unk_id is None else int(unk_id)


def _sentencepiece_backend(sp: object) -> _Backend:
    """A raw SentencePieceProcessor: pieces by id, ``piece_to_id`` (the unk id when unknown).

    Encoding overrides the processor's own defaults (``add_bos``/``add_eos``/``reverse``/``enable_sampling`` given
    to its constructor): no BOS/EOS, and the one best segmentation rather than a sampled one.
    """

    def vocab() -> dict[str, int]:
        return {sp.id_to_piece(i): i for i in range(sp.get_piece_size())}  # type: ignore[attr-defined]

    def encode(text: str) -> list[int]:
        ids = sp.encode(  # type: ignore[attr-defined]
            text, out_type=int, add_bos=False, add_eos=False, reverse=False, enable_sampling=False
        )
        return [int(i) for i in ids]

    return _Backend(vocab, lambda token: int(sp.piece_to_id(token)), encode, int(sp.unk_id()))  # type: ignore[attr-defined]


def _tiktoken_backend(enc: object) -> _Backend:
    """A tiktoken Encoding: byte tokens (undecodable partial UTF-8 ones left out), no unk token, ordinary encoding."""

    def vocab() -> dict[str, int]:
        out: dict[str, int] = {}
        for i in range(enc.n_vocab):  # type: ignore[attr-defined]
            try:
                out[enc.decode_single_token_bytes(i).decode("utf-8")] = i  # type: ignore[attr-defined]
            except (KeyError, UnicodeDecodeError):  # a gap in the ids, or part of a multi-byte character
                continue
        return out

    def token_to_id(token: str) -> int | None:
        try:
            return int(enc.encode_single_token(token.encode("utf-8")))  # type: ignore[attr-defined]
        except KeyError:
            return None

    def encode(text: str) -> list[int]:
        return [int(i) for i in enc.encode_ordinary(text)]  # type: ignore[attr-defined]

    return _Backend(vocab, token_to_id, encode, None)


def _study_id(backend: _Backend, token: str) -> int:
    """The id of the entry that is exactly ``token``; the unk id when unknown, as the study did."""
    token_id = backend.token_to_id(token)
    if token_id is None:  # tokenizers.Tokenizer and tiktoken answer None where HF answers the unk id
        token_id = backend.unk_id
    if token_id is None:
        raise ValueError(f"labels: {token!r} is not a vocabulary entry and the tokenizer has no unk token")
    return int(token_id)


def _starts_with_text(continuation: tuple[int, ...], unk_id: int | None, blank_ids: set[int]) -> bool:
    """False when the first token that carries text (past bare ``▁``/``Ġ``) is the unk token, or there is none.

    ``<unk>`` stands for any character the vocabulary lacks (sentencepiece without byte fallback, BPE with an unk
    token), so it identifies no option: scoring it, or the bare space before it, would be silently wrong.
    """
    for token_id in continuation:
        if token_id not in blank_ids:
            return token_id != unk_id
    return False


def _continuation(backend: _Backend, prompt_tail: str, text: str) -> tuple[int, ...]:
    """Tokens the tokenizer adds for ``text`` after ``prompt_tail`` (where the two tokenisations diverge)."""
    if not prompt_tail:
        return tuple(backend.encode(text))
    head = backend.encode(prompt_tail)
    full = backend.encode(prompt_tail + text)
    common = 0
    while common < min(len(head), len(full)) and head[common] == full[common]:
        common += 1
    if common < len(head):  # the tail's last token merged with the label: no clean next token
        return ()
    return tuple(full[common:])
