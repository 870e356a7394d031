"""How adapters turn prompt text into ids, and the special tokens a tokenizer declares (one rule for all adapters)."""

from __future__ import annotations

from typing import Any

__all__ = ["TokenizerEncoding", "default_add_special_tokens", "encode_text", "special_tokens"]

_SPECIAL_ROLES = ("bos_token", "eos_token", "pad_token", "unk_token")


def default_add_special_tokens(tokenizer: Any, text: str) -> bool:
    """The default for text whose producer did not decide: add BOS unless the text already starts with it.

    Chat templates write BOS into the text; adding another would double it. medadapt-prompts decides for the
    prompts it renders (`Prompt.add_special_tokens`, passed on as `ModelInput.add_special_tokens`).
    """
    bos = getattr(tokenizer, "bos_token", None)
    return not (isinstance(bos, str) and bos != "" and text.startswith(bos))


def encode_text(tokenizer: Any, text: str, add_special_tokens: bool | None = None) -> list[int]:
    """Token ids of `text`, with special tokens as decided (None: `default_add_special_tokens`)."""
    if add_special_tokens is None:
        add_special_tokens = default_add_special_tokens(tokenizer, text)
    return list(tokenizer(text, add_special_tokens=add_special_tokens)["input_ids"])


def special_tokens(tokenizer: Any) -> dict[str, str]:
    """bos/eos/pad/unk and additional special tokens, by role name (what prompt building may refer to)."""
    out = {}
    for role in _SPECIAL_ROLES:
        value = getattr(tokenizer, role, None)
        if value:
            out[role] = str(value)
    extra = getattr(tokenizer, "additional_special_tokens", None) or []
    for i, token in enumerate(extra):
        out[f"additional_{i}"] = str(token)
    return out


class TokenizerEncoding:
    """The adapters' `tokenizer` and `encode`, over the tokenizer each keeps in `_tokenizer`."""

    _tokenizer: Any

    @property
    def tokenizer(self) -> Any:
        """The model's tokenizer, e.g. for medadapt.decoding.option_token_ids."""
        return self._tokenizer

    def encode(self, text: str, add_special_tokens: bool | None = None) -> list[int]:
        """Token ids of a prompt; BOS as decided (None: added unless the text already starts with it)."""
        return encode_text(self._tokenizer, text, add_special_tokens)
