"""Scoring the last position of many prompts: left padding, shared-prefix KV reuse and packed suffixes.

The prompts of one scoring call usually share a long prefix (system prompt, few-shot demos). Its keys/values are
computed once; the suffixes then run either as left-padded rows after the prefix or packed into one row with a
4-D mask that keeps each suffix to the prefix and its own tokens (see the package README).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from medadapt.models.batching import common_prefix_length, packed_groups, packing_pays

__all__ = ["PACKED_MASK_ELEMENTS", "PrefixReuseScoring"]

PACKED_MASK_ELEMENTS = 2**24
"""Largest packed attention mask (queries × keys) built for one forward pass: 64 MiB in fp32, 32 MiB in bf16.
Bigger packs are split; a single suffix over it is scored padded (transformers then builds a boolean mask)."""

# Attention implementations that apply a custom 4-D additive mask exactly as given (flash-attention variants take
# no mask, only sequence lengths).
_MASKABLE_ATTENTION = frozenset({"sdpa", "eager"})


class PrefixReuseScoring:
    """The scoring mechanics of HFAdapter, as a mixin over its model, tokenizer and settings."""

    model: Any
    _tokenizer: Any
    _cache_kw: str
    _keeps_logits: bool
    prefix_reuse: bool
    prefix_packing: bool | str
    min_prefix_tokens: int
    last_passes: Counter[str]
    max_packed_mask_elements: int = PACKED_MASK_ELEMENTS

    @property
    def device(self) -> Any:
        """Where inputs go (the device of the first parameter; the first shard under device_map)."""
        return next(self.model.parameters()).device

    def _left_pad(self, sequences: Sequence[Sequence[int]]) -> tuple[Any, Any]:
        """[B, T] ids and attention mask, left padded with the pad id."""
        import torch

        width = max(len(s) for s in sequences)
        pad = self._tokenizer.pad_token_id
        ids = torch.full((len(sequences), width), pad, dtype=torch.long)
        mask = torch.zeros((len(sequences), width), dtype=torch.long)
        for i, s in enumerate(sequences):
            if s:
                ids[i, width - len(s) :] = torch.tensor(s, dtype=torch.long)
                mask[i, width - len(s) :] = 1
        return ids.to(self.device), mask.to(self.device)

    @property
    def _base_model(self) -> Any:
        """The transformers model under a peft wrapper (the model itself otherwise)."""
        return self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model

    @property
    def _text_config(self) -> Any:
        """The config of the language model (the text part of a multimodal config)."""
        config = self._base_model.config
        return config.get_text_config() if hasattr(config, "get_text_config") else config

    def _attention_span(self) -> int | None:
        """The narrowest local attention span in the config (sliding window, attention chunk); None when global."""
        spans = [
            getattr(self._text_config, name, None) for name in ("sliding_window", "attention_chunk_size")
        ]
        return min((int(span) for span in spans if span), default=None)

    def _shared_prefix(self, sequences: list[list[int]]) -> tuple[int, list[Any]] | None:
        """(length, per-layer (keys, values)) of the prefix all prompts share, computed once; None when not worth it
        or not exact: reuse places suffixes after the prefix by index, so a local attention window (measured in
        indices) must never cut in — it may only when the longest prompt exceeds it."""
        if not self.prefix_reuse or len(sequences) < 2:
            return None
        span = self._attention_span()
        if span is not None and max(len(s) for s in sequences) > span:
            return None
        length = min(common_prefix_length(sequences), min(len(s) for s in sequences) - 1)
        if length < self.min_prefix_tokens:
            return None
        import torch
        from transformers.cache_utils import DynamicLayer, DynamicSlidingWindowLayer

        prefix = torch.tensor([sequences[0][:length]], dtype=torch.long, device=self.device)
        with torch.inference_mode():
            out = (
                self.model(input_ids=prefix, use_cache=True, logits_to_keep=1)
                if self._keeps_logits
                else self.model(input_ids=prefix, use_cache=True)
            )
        cache = getattr(out, "cache", None) or getattr(out, "past_key_values", None)
        layers = getattr(cache, "layers", None)
        if layers is None or any(
            type(layer) not in (DynamicLayer, DynamicSlidingWindowLayer) for layer in layers
        ):
            return None  # state we cannot replicate (linear-attention, indexed, shared or quantised layers)
        return length, [(layer.keys, layer.values) for layer in layers]

    def _prefix_cache(self, kv: list[Any], rows: int) -> Any:
        """A fresh DynamicCache over the prefix keys/values for `rows` rows (expanded views when rows > 1). Its layers
        concatenate into new tensors (here and when forward appends), so the stored prefix is never written."""
        from transformers import DynamicCache

        data = kv if rows == 1 else [(k.expand(rows, -1, -1, -1), v.expand(rows, -1, -1, -1)) for k, v in kv]
        return DynamicCache(ddp_cache_data=data, config=self._base_model.config)

    def _packs(self) -> bool:
        """Whether suffixes may be packed: only under an attention implementation that applies a custom 4-D mask
        as given. (A local attention window cannot cut in: _shared_prefix gives no prefix when it could.)"""
        attention = getattr(self._base_model.config, "_attn_implementation", None)
        return self.prefix_packing is not False and attention in _MASKABLE_ATTENTION

    def _last_logits(self, sequences: list[list[int]], prefix: tuple[int, list[Any]] | None) -> Any:
        """Next-token logits [B, V] at each sequence's last position, without materialising [B, T, V]."""
        if prefix is None or not self._packs():
            return self._padded_logits(sequences, prefix)
        length = prefix[0]
        suffixes = [s[length:] for s in sequences]
        sizes = [len(s) for s in suffixes]
        hidden = int(getattr(self._text_config, "hidden_size", 4096))  # for the cost estimate
        if self.prefix_packing == "auto" and not packing_pays(sizes, length, hidden):
            return self._padded_logits(sequences, prefix)
        import torch

        logits = []
        for group in packed_groups(sizes, length, self.max_packed_mask_elements):
            size = sum(sizes[i] for i in group)
            if size * (length + size) > self.max_packed_mask_elements:  # one suffix, too long to pack
                logits.append(self._padded_logits([sequences[i] for i in group], prefix))
            else:
                logits.append(self._packed_logits([suffixes[i] for i in group], prefix))
        return torch.cat(logits)

    def _padded_logits(self, sequences: list[list[int]], prefix: tuple[int, list[Any]] | None) -> Any:
        """Logits [B, V]: left-padded rows (after the prefix repeated per row, when one is shared)."""
        import torch

        kwargs: dict[str, Any] = {}
        if prefix is None:
            ids, mask = self._left_pad(sequences)
            positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
            kwargs["use_cache"] = False
        else:
            length, kv = prefix
            ids, suffix_mask = self._left_pad([s[length:] for s in sequences])
            ones = torch.ones((len(sequences), length), dtype=suffix_mask.dtype, device=suffix_mask.device)
            mask = torch.cat([ones, suffix_mask], dim=1)
            positions = (length + suffix_mask.cumsum(dim=1) - 1).clamp(min=length)
            kwargs[self._cache_kw] = self._prefix_cache(kv, len(sequences))
            kwargs["use_cache"] = True
        self.last_passes["padded" if prefix is None else "padded_prefix"] += 1
        return self._kept_logits(ids, mask, positions, 1, kwargs)[:, -1, :]

    def _packed_logits(self, suffixes: list[list[int]], prefix: tuple[int, list[Any]]) -> Any:
        """Logits [B, V]: all suffixes in one row after the prefix cache, positions restarting at the prefix length,
        each suffix attending to the prefix and its own earlier tokens only (a 4-D additive mask)."""
        import torch

        length, kv = prefix
        device = self.device
        sizes = torch.tensor([len(s) for s in suffixes], device=device)
        ends = sizes.cumsum(dim=0)
        segment = torch.repeat_interleave(torch.arange(len(suffixes), device=device), sizes)
        index = torch.arange(int(ends[-1]), device=device)
        positions = (length + index - (ends - sizes)[segment]).unsqueeze(0)
        own = (segment[:, None] == segment[None, :]) & (index[None, :] <= index[:, None])
        allowed = torch.cat([own.new_ones((len(index), length)), own], dim=1)
        dtype = self._base_model.dtype
        mask = torch.zeros(allowed.shape, dtype=dtype, device=device).masked_fill_(
            ~allowed, torch.finfo(dtype).min
        )
        ids = torch.tensor([[t for s in suffixes for t in s]], dtype=torch.long, device=device)
        kwargs = {self._cache_kw: self._prefix_cache(kv, 1), "use_cache": True}
        self.last_passes["packed"] += 1
        return self._kept_logits(ids, mask[None, None], positions, ends - 1, kwargs)[0]

    def _kept_logits(self, ids: Any, mask: Any, positions: Any, keep: Any, kwargs: dict[str, Any]) -> Any:
        """Logits [rows, kept, V] at the kept positions only (`keep`: the last n, or a 1-D tensor of positions)."""
        if self._keeps_logits:
            out = self.model(
                input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=keep, **kwargs
            )
            return out.logits
        # Fallback for models without logits_to_keep: run the trunk, apply the head to the kept hidden states only.
        base = self._base_model
        trunk = base.base_model if hasattr(base, "base_model") else base.model
        hidden = trunk(input_ids=ids, attention_mask=mask, position_ids=positions, **kwargs).last_hidden_state
        return base.get_output_embeddings()(
            hidden[:, -keep:, :] if isinstance(keep, int) else hidden[:, keep, :]
        )
