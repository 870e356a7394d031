"""The transformers adapter (the `hf` entry point): the adapter protocol over a causal LM.

Loading lives in `hf_loading`, capability probing in `capabilities`, and the last-position scoring mechanics
(length-sorted batches, shared-prefix KV reuse, packed suffixes) in `prefix_reuse`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from medadapt.models.adapter_io import (
    STATUS_OK,
    STATUS_TOO_LONG,
    Generation,
    ModelInput,
    ScoreResult,
    as_model_inputs,
)
from medadapt.models.batching import length_sorted_batches
from medadapt.models.capabilities import (
    ForwardSignature,
    parameter_bytes,
    probe_capabilities,
    system_turn_allowed,
)
from medadapt.models.hf_loading import load_causal_lm, prepare_tokenizer, resolve_dtype
from medadapt.models.option_table import OptionTable
from medadapt.models.prefix_reuse import PACKED_MASK_ELEMENTS, PrefixReuseScoring
from medadapt.models.protocol import OptionTokensLike
from medadapt.models.registry import ModelSpec
from medadapt.models.stop_strings import cut_at_stop, stop_strings_criteria
from medadapt.models.tokenization import TokenizerEncoding

__all__ = ["PACKED_MASK_ELEMENTS", "HFAdapter", "load_hf_adapter", "resolve_dtype", "system_turn_allowed"]

# Closing a CPU model at least this large runs a garbage collection to return its memory at once.
COLLECT_FROM_BYTES = 256 * 2**20


class HFAdapter(TokenizerEncoding, PrefixReuseScoring):
    """A causal LM through transformers; see the package README for the scoring method.

    `prefix_packing` (with `prefix_reuse`): score a batch's suffixes packed in one row after the shared prefix's
    keys/values (no padding, no per-row copy of the prefix) instead of left-padded rows. "auto" (default) packs a
    batch when that is estimated cheaper (`batching.packing_pays`: padding saved vs attention over every packed
    key); True always packs, False never — the choice for a model whose own code ignores or rebuilds a custom 4-D
    attention mask under sdpa/eager (remote code).
    `last_passes` counts the forward passes of the last `score_options` call by method ("packed", "padded_prefix",
    "padded").
    """

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
        if prefix_packing not in (True, False, "auto"):
            raise ValueError(f"prefix_packing: expected True, False or 'auto', got {prefix_packing!r}")
        self.spec = spec
        self.batch_size, self.max_batch_tokens = batch_size, max_batch_tokens
        self.prefix_reuse, self.prefix_packing, self.min_prefix_tokens = (
            prefix_reuse,
            prefix_packing,
            min_prefix_tokens,
        )
        self.decoder_backend = decoder_backend
        self.last_passes: Counter[str] = Counter()
        if model is None:
            model, tokenizer = load_causal_lm(
                spec,
                dtype=dtype,
                device=device,
                device_map=device_map,
                quantization=quantization,
                attn_implementation=attn_implementation,
                merge_lora=merge_lora,
            )
        if tokenizer is None:
            raise ValueError("tokenizer: required when a model object is passed")
        self.model = model.eval()
        self._tokenizer = prepare_tokenizer(tokenizer)
        signature = ForwardSignature.of(self._base_model)
        self._cache_kw, self._keeps_logits = signature.cache_keyword, signature.keeps_logits
        self.capabilities = probe_capabilities(spec, self._base_model, tokenizer)

    # ---- protocol (`tokenizer` and `encode` come from TokenizerEncoding) ------------------------------------
    def score_options(
        self, prompts: Sequence[Any], option_tokens: OptionTokensLike | Sequence[OptionTokensLike]
    ) -> ScoreResult:
        """Full-vocabulary log-probs of each option's first token after each prompt (one forward pass per batch)."""
        import torch

        inputs = as_model_inputs(prompts)
        table = OptionTable(option_tokens, len(inputs))
        ids = [self._input_ids(p) for p in inputs]
        scores = ScoreResult.unscored([len(x) for x in ids], table.n_options, self.capabilities.context_length)
        rows = scores.scorable()
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
                    scores.fill(
                        batch_rows, table.combine(batch_rows, result.logprobs), result.logsumexp, result.top_token
                    )
        return scores

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
        """Drop the model so its memory can be reclaimed before the next one loads.

        A model's modules hold reference cycles, so its memory returns only with a garbage collection, which in a
        study process full of loaded code takes a few hundred milliseconds: worth it for a model of some size or
        on an accelerator, not for the tiny ones a test or a rehearsal loads hundreds of times.
        """
        import gc

        model, self.model = self.model, None
        if model is None:
            return
        collect = parameter_bytes(model) >= COLLECT_FROM_BYTES or model.device.type != "cpu"
        del model
        if not collect:
            return
        gc.collect()
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()

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
        return self.encode(prompt.text, prompt.add_special_tokens)

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
