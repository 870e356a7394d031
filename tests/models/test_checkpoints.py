"""Offline resolution of checkpoints: local paths, materialisers, hub cache; errors name the missing file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from medadapt.models.checkpoints import resolve_checkpoint, resolve_lora
from medadapt.models.loading import list_adapters, load_adapter
from medadapt.models.registry import get_model


def test_local_path_is_used_as_is(tiny_llama: Path) -> None:
    spec = get_model("llama-2-7b").with_overrides(hf_id_or_path=str(tiny_llama))
    assert resolve_checkpoint(spec) == tiny_llama


def test_missing_weights_are_named(tiny_llama: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(tiny_llama, broken)
    (broken / "model.safetensors").unlink()
    spec = get_model("llama-2-7b").with_overrides(hf_id_or_path=str(broken))
    with pytest.raises(FileNotFoundError, match="no weights"):
        resolve_checkpoint(spec)
    (broken / "config.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"missing file .*config\.json"):
        resolve_checkpoint(spec)


def test_missing_path_is_named() -> None:
    spec = get_model("llama-2-7b").with_overrides(hf_id_or_path="/nonexistent/llama")
    with pytest.raises(FileNotFoundError, match="/nonexistent/llama"):
        resolve_checkpoint(spec)


def test_uncached_hub_id_never_downloads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match="never downloads"):
        resolve_checkpoint(get_model("meditron-7b"))


def test_lora_path_needs_adapter_config(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"adapter_config\.json"):
        resolve_lora(str(tmp_path), "m")


def test_builtin_adapters_are_entry_points() -> None:
    assert {"hf", "llava", "vllm", "chain", "flamingo"} <= set(list_adapters())


def test_unknown_adapter_is_named(tiny_llama: Path) -> None:
    with pytest.raises(KeyError, match="no adapter named 'nope'"):
        load_adapter(str(tiny_llama), adapter="nope")


# peft reads this deprecated transformers property when wrapping a model (transformers 5.2x + peft 0.21).
@pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")
def test_lora_adapter_through_peft(tiny_llama: Path, tmp_path: Path) -> None:
    import numpy as np
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from medadapt.decoding import option_token_ids

    model = AutoModelForCausalLM.from_pretrained(tiny_llama)
    peft_model = get_peft_model(
        model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    )
    peft_model.save_pretrained(tmp_path / "lora")
    plain = load_adapter(str(tiny_llama))
    tuned = load_adapter(str(tiny_llama), lora=str(tmp_path / "lora"))
    merged = load_adapter(str(tiny_llama), lora=str(tmp_path / "lora"), merge_lora=True)
    options = option_token_ids(plain.tokenizer, ["A", "B", "C"])
    prompts = ["Question: which? (A) x (B) y (C) z\nAnswer:"]
    a, b, c = (x.score_options(prompts, options).logprobs for x in (plain, tuned, merged))
    assert not np.allclose(a, b)
    np.testing.assert_allclose(b, c, atol=1e-4)
    with torch.inference_mode():
        ids = torch.tensor([tuned.encode(prompts[0])])
        ref = torch.log_softmax(peft_model(input_ids=ids).logits[0, -1], -1).numpy()
    table = options.padded()
    expected = np.log(np.where(table >= 0, np.exp(ref[table]), 0).sum(1))
    np.testing.assert_allclose(b[0], expected, atol=1e-4)
