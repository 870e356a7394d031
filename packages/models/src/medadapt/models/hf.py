"""The transformers adapter: length-sorted batches, last-position-only scoring, shared-prefix KV reuse (packed)."""

from __future__ import annotations

import inspect
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from medadapt.models.adapter_io import (
    STATUS_OK,
    STATUS_TOO_LONG,
    Capabilities,
    Generation,
    ModelInput,
    ScoreResult,
    as_model_inputs,
)
from medadapt.models.batching import (
    common_prefix_length,
    length_sorted_batches,
    packed_groups,
    packing_pays,
)
from medadapt.models.checkpoints import resolve_checkpoint, resolve_lora
from medadapt.models.option_table import OptionTable
from medadapt.models.protocol import OptionTokensLike
from medadapt.models.registry import ModelSpec, chat_template_patch
from medadapt.models.stop_strings import cut_at_stop, stop_strings_criteria

__all__ = ["PACKED_MASK_ELEMENTS", "HFAdapter", "load_hf_adapter", "resolve_dtype", "system_turn_allowed"]

PACKED_MASK_ELEMENTS = 2**24
"""Largest packed attention mask (queries × keys) built for one forward pass: 64 MiB in fp32, 32 MiB in bf16.
Bigger packs are split; a single suffix over it is scored padded (transformers then builds a boolean mask)."""

# Attention implementations that apply a custom 4-D additive mask exactly as given (flash-attention variants take
# no mask, only sequence lengths).
_MASKABLE_ATTENTION = frozenset({"sdpa", "eager"})


def resolve_dtype(dtype: Any, device: str) -> Any:
    """torch dtype from "auto" (fp32 on CPU, bf16 on CUDA), a name ("bfloat16", "float16", "float32") or a dtype."""
    import torch

    if dtype == "auto" or dtype is None:
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    names = {
        "float32": torch.float32,
        "fp32": torch.float32,
        "bfloat16": torch.bfloat16,
        "bf16": torch.bfloat16,
        "float16": torch.float16,
        "fp16": torch.float16,
    }
    if dtype not in names:
        raise ValueError(f"dtype: expected 'auto', one of {sorted(names)} or a torch.dtype, got {dtype!r}")
    return names[dtype]


def _quantization_config(quantization: Any, dtype: Any) -> Any:
    """A BitsAndBytesConfig for "8bit"/"4bit" (bitsandbytes needed), or the object passed through."""
    if quantization is None or not isinstance(quantization, str):
        return quantization
    from transformers import BitsAndBytesConfig

    if quantization == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True)
    if quantization == "4bit":
        return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_compute_dtype=dtype, bnb_4bit_quant_type="nf4")
    raise ValueError(
        f"quantization: expected None, '8bit', '4bit' or a transformers quantization config, got {quantization!r}"
    )


def system_turn_allowed(tokenizer: Any, template: str | None) -> bool:
    """Whether a chat template renders a system message (Mistral v0.1's raises); True without a template."""
    if not template:
        return True
    conversation = [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "u"},
        {"role": "assistant", "content": "a"},
    ]
    try:
        tokenizer.apply_chat_template(conversation, chat_template=template, tokenize=False)
    except Exception:
        return False
    return True


def _special_tokens(tokenizer: Any) -> dict[str, str]:
    """bos/eos/pad/unk and additional special tokens, by role name."""
    out = {}
    for role in ("bos_token", "eos_token", "pad_token", "unk_token"):
        value = getattr(tokenizer, role, None)
        if value:
            out[role] = str(value)
    extra = getattr(tokenizer, "additional_special_tokens", None) or []
    for i, token in enumerate(extra):
        out[f"additional_{i}"] = str(token)
    return out


class HFAdapter:
    """A causal LM through transformers; see the package README for the scoring method.

    `prefix_packing` (with `prefix_reuse`): score a batch's suffixes packed in one row after the shared prefix's
    keys/values (no padding, no per-row copy of the prefix) instead of left-padded rows. "auto" (default) packs a
    batch when that is estimated cheaper (`batching.packing_pays`: padding saved vs attention over every packed
    key); True always packs, False never — the choice for a model whose own code ignores or rebuilds a custom 4-D
    attention mask under sdpa/eager (remote code).
    `last_passes` counts the forward passes of the last `score_options` call by method ("packed", "padded_prefix",
    "padded").
    """

    max_packed_mask_elements: int = PACKED_MASK_ELEMENTS

    def __init__(
        self,
        spec: ModelSpec,
        *,
        dtype: Any = "auto",
        device: str | None = None,
        device_map: Any = None,
        quantization: Any = None,
        attn_implementation: str | None = None,
        batch_size: int = 8,
        max_batch_tokens: int | None = 32_768,
        prefix_reuse: bool = True,
        prefix_packing: bool | str = "auto",
        min_prefix_tokens: int = 16,
        merge_lora: bool = False,
        decoder_backend: str = "auto",
        model: Any = None,
        tokenizer: Any = None,
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.spec = spec
        self.batch_size = batch_size
        self.max_batch_tokens = max_batch_tokens
        self.prefix_reuse = prefix_reuse
        if prefix_packing not in (True, False, "auto"):
            raise ValueError(f"prefix_packing: expected True, False or 'auto', got {prefix_packing!r}")
        self.prefix_packing = prefix_packing
        self.last_passes: Counter[str] = Counter()
        self.min_prefix_tokens = min_prefix_tokens
        self.decoder_backend = decoder_backend
        if model is None:
            path = resolve_checkpoint(spec)
            device = device or ("cuda" if torch.cuda.is_available() else "cpu")
            # The revision was resolved with the path (resolve_checkpoint picks the cached snapshot).
            kwargs: dict[str, Any] = {"dtype": resolve_dtype(dtype, device)}
            if attn_implementation:
                kwargs["attn_implementation"] = attn_implementation
            if device_map is not None:
                kwargs["device_map"] = device_map
            quant = _quantization_config(quantization, kwargs["dtype"])
            if quant is not None:
                kwargs["quantization_config"] = quant
            model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
            if device_map is None and quant is None:
                model = model.to(device)
            tokenizer = AutoTokenizer.from_pretrained(path)
            if spec.lora:
                from peft import PeftModel

                model = PeftModel.from_pretrained(model, resolve_lora(spec.lora, spec.name))
                if merge_lora:
                    model = model.merge_and_unload()
        if tokenizer is None:
            raise ValueError("tokenizer: required when a model object is passed")
        self.model = model.eval()
        tokenizer.padding_side = "left"
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self._tokenizer = tokenizer
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        params = inspect.signature(base.forward).parameters
        self._cache_kw = "cache" if "cache" in params else "past_key_values"
        self._keeps_logits = "logits_to_keep" in params
        template = chat_template_patch(spec.chat_template_patch, getattr(tokenizer, "chat_template", None))
        config = getattr(base, "config", None)
        context = (
            spec.context_length
            or getattr(config, "max_position_embeddings", None)
            or tokenizer.model_max_length
        )
        self.capabilities = Capabilities(
            chat_template=template,
            system_turn=system_turn_allowed(tokenizer, template),
            context_length=int(context),
            images=False,
            special_tokens=_special_tokens(tokenizer),
        )

    # ---- protocol ---------------------------------------------------------------------------------------------
    @property
    def tokenizer(self) -> Any:
        """The HF tokenizer (left padding), e.g. for medadapt.decoding.option_token_ids."""
        return self._tokenizer

    @property
    def device(self) -> Any:
        """Where inputs go (the device of the first parameter; the first shard under device_map)."""
        return next(self.model.parameters()).device

    def encode(self, text: str) -> list[int]:
        """Token ids of a prompt; BOS is added unless the text already starts with it (chat templates add it)."""
        bos = self._tokenizer.bos_token
        add_special = not (bos and text.startswith(bos))
        return list(self._tokenizer(text, add_special_tokens=add_special)["input_ids"])

    def score_options(
        self, prompts: Sequence[Any], option_tokens: OptionTokensLike | Sequence[OptionTokensLike]
    ) -> ScoreResult:
        """Full-vocabulary log-probs of each option's first token after each prompt (one forward pass per batch)."""
        import torch

        inputs = as_model_inputs(prompts)
        table = OptionTable(option_tokens, len(inputs))
        ids = [self._input_ids(p) for p in inputs]
        n = len(inputs)
        status: list[str] = [
            STATUS_OK if len(x) <= self.capabilities.context_length else STATUS_TOO_LONG for x in ids
        ]
        logprobs = np.full((n, table.n_options), np.nan, dtype=np.float32)
        logsumexp = np.full(n, np.nan, dtype=np.float32)
        top = np.full(n, -1, dtype=np.int64)
        rows = [i for i in range(n) if status[i] == STATUS_OK]
        self.last_passes = Counter()
        if rows:
            prefix = self._shared_prefix([ids[i] for i in rows])
            prefix_len = prefix[0] if prefix else 0
            lengths = [len(ids[i]) - prefix_len for i in rows]
            with torch.inference_mode():
                for batch in length_sorted_batches(lengths, self.batch_size, self.max_batch_tokens):
                    batch_rows = [rows[b] for b in batch]
                    logits = self._batch_logits(
                        [inputs[r] for r in batch_rows], [ids[r] for r in batch_rows], prefix
                    )
                    allowed = table.allowed(batch_rows)
                    result = self._decode(logits, allowed)
                    logprobs[batch_rows] = table.combine(batch_rows, result.logprobs)
                    logsumexp[batch_rows] = result.logsumexp
                    top[batch_rows] = result.top_token
        return ScoreResult(logprobs, logsumexp, top, status, [len(x) for x in ids])

    def generate(
        self, prompts: Sequence[Any], max_new_tokens: int = 64, stop: Sequence[str] = ()
    ) -> list[Generation]:
        """Greedy continuations, batched by length; each cut before its first stop string (EOS always stops)."""
        import torch

        inputs = as_model_inputs(prompts)
        ids = [self._input_ids(p) for p in inputs]
        context = self.capabilities.context_length
        out: list[Generation | None] = [None] * len(inputs)
        rows = []
        for i, x in enumerate(ids):
            if len(x) >= context:
                out[i] = Generation("", STATUS_TOO_LONG, "none", 0)
            else:
                rows.append(i)
        stops = [s for s in stop if s]
        eos_text = self._tokenizer.eos_token
        specials = [t for t in getattr(self._tokenizer, "all_special_tokens", []) if t]
        with torch.inference_mode():
            for batch in length_sorted_batches(
                [len(ids[i]) for i in rows], self.batch_size, self.max_batch_tokens
            ):
                batch_rows = [rows[b] for b in batch]
                model_inputs = self._generation_inputs(
                    [inputs[r] for r in batch_rows], [ids[r] for r in batch_rows]
                )
                width = model_inputs["input_ids"].shape[1]
                budget = max(1, min(max_new_tokens, context - width))
                criteria = [stop_strings_criteria(self._tokenizer, stops, width)] if stops else []
                from transformers import StoppingCriteriaList

                generated = self.model.generate(
                    **model_inputs,
                    do_sample=False,
                    num_beams=1,
                    max_new_tokens=budget,
                    pad_token_id=self._tokenizer.pad_token_id,
                    stopping_criteria=StoppingCriteriaList(criteria),
                    top_p=None,
                    top_k=None,
                    temperature=None,
                )
                for j, r in enumerate(batch_rows):
                    new = generated[j, width:].tolist()
                    out[r] = self._finish(new, stops, eos_text, specials)
        return [g for g in out if g is not None]

    def close(self) -> None:
        """Drop the model so its memory can be reclaimed."""
        import gc

        self.model = None
        gc.collect()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:  # pragma: no cover
            pass

    def __enter__(self) -> HFAdapter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- internals (a subclass for another model class overrides these three) ---------------------------------
    def _input_ids(self, prompt: ModelInput) -> list[int]:
        """The ids the model will see for one prompt (their count decides "too_long")."""
        if prompt.images:
            raise ValueError(
                f"model {self.spec.name!r} takes no images, got {len(prompt.images)} with a prompt"
            )
        return self.encode(prompt.text)

    def _batch_logits(self, prompts: list[ModelInput], ids: list[list[int]], prefix: Any) -> Any:
        """Next-token logits [B, V] for one batch."""
        return self._last_logits(ids, prefix)

    def _generation_inputs(self, prompts: list[ModelInput], ids: list[list[int]]) -> dict[str, Any]:
        """Keyword arguments for model.generate for one batch (left padded)."""
        input_ids, mask = self._left_pad(ids)
        return {"input_ids": input_ids, "attention_mask": mask}

    def _finish(
        self, new: list[int], stops: Sequence[str], eos_text: str | None, specials: list[str]
    ) -> Generation:
        """Decode new tokens, cut at the first stop string or EOS, drop remaining special-token text."""
        eos_id = self._tokenizer.eos_token_id
        pad_id = self._tokenizer.pad_token_id
        if eos_id is not None and eos_id in new:
            new_cut = new[: new.index(eos_id)]
            reason = "eos"
        else:
            new_cut = [t for t in new if t != pad_id] if pad_id != eos_id else new
            reason = "length"
        text = self._tokenizer.decode(new_cut, skip_special_tokens=False)
        text, stopped = cut_at_stop(text, stops)
        if stopped:
            reason = "stop"
        for token in specials:
            text = text.replace(token, "")
        return Generation(text, STATUS_OK, reason, len(new_cut))  # type: ignore[arg-type]

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

    def _decode(self, logits: Any, allowed: np.ndarray) -> Any:
        """Constrained full-vocabulary log-probs through the compiled decoder (logits stay on their device)."""
        import torch

        from medadapt.decoding import constrained_logprobs

        if logits.dtype not in (torch.float32, torch.float16, torch.bfloat16):
            logits = logits.float()
        return constrained_logprobs(logits.contiguous(), allowed, backend=self.decoder_backend)


def load_hf_adapter(spec: ModelSpec, **options: Any) -> HFAdapter:
    """Entry point `hf` of `medadapt.adapters`."""
    return HFAdapter(spec, **options)
