"""Delta merge + old-LLaVA → transformers Llava conversion, on tiny synthetic checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from medadapt.models.llava_delta import merge_delta, merge_llava_delta
from medadapt.models.testing import tiny_clip_vision_config


def test_merge_delta_adds_base_and_keeps_grown_rows() -> None:
    base = {"w": torch.ones(2, 3), "emb": torch.ones(4, 2)}
    delta = {
        "w": torch.full((2, 3), 2.0),
        "emb": torch.full((6, 2), 5.0),
        "model.mm_projector.weight": torch.zeros(1),
    }
    merged = merge_delta(base, delta)
    assert torch.equal(merged["w"], torch.full((2, 3), 3.0))
    assert torch.equal(merged["emb"][:4], torch.full((4, 2), 6.0)) and torch.equal(
        merged["emb"][4:], torch.full((2, 2), 5.0)
    )
    assert "model.mm_projector.weight" in merged
    with pytest.raises(ValueError, match="base shape"):
        merge_delta({"w": torch.ones(3)}, {"w": torch.ones(2, 2)})


def _old_llava_delta(base_dir: Path, out: Path) -> dict[str, torch.Tensor]:
    """A delta like liuhaotian/LLaVA-7b-delta-v0: grown vocab, absolute mm_projector, old key names."""
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    tokenizer.add_tokens(["<im_patch>", "<im_start>", "<im_end>"], special_tokens=True)
    base = AutoModelForCausalLM.from_pretrained(base_dir)
    base_state = {k: v.clone() for k, v in base.state_dict().items()}
    generator = torch.Generator().manual_seed(3)
    target = {k: v + 0.01 * torch.randn(v.shape, generator=generator) for k, v in base_state.items()}
    extra = len(tokenizer) - base.config.vocab_size
    for name in ("model.embed_tokens.weight", "lm_head.weight"):
        target[name] = torch.cat(
            [target[name], 0.1 * torch.randn(extra, target[name].shape[1], generator=generator)]
        )
    target["model.mm_projector.weight"] = 0.1 * torch.randn(64, 32, generator=generator)
    target["model.mm_projector.bias"] = torch.zeros(64)
    delta = {}
    for name, tensor in target.items():
        if name not in base_state:
            delta[name] = tensor
        elif base_state[name].shape == tensor.shape:
            delta[name] = tensor - base_state[name]
        else:
            delta[name] = tensor.clone()
            delta[name][: base_state[name].shape[0]] -= base_state[name]
    out.mkdir()
    save_file({k: v.contiguous() for k, v in delta.items()}, str(out / "model.safetensors"))
    config = base.config.to_dict() | {
        "vocab_size": len(tokenizer),
        "mm_vision_select_layer": -2,
        "mm_hidden_size": 32,
        "architectures": ["LlavaLlamaForCausalLM"],
    }
    (out / "config.json").write_text(json.dumps(config), encoding="utf-8")
    tokenizer.save_pretrained(out)
    return target


@pytest.mark.filterwarnings("ignore:.*torchvision.*")
def test_merge_and_convert_gives_a_working_llava(tiny_llama: Path, tmp_path: Path) -> None:
    from transformers import CLIPVisionModel, LlamaConfig, LlamaForCausalLM

    from medadapt.decoding import option_token_ids
    from medadapt.models.adapter_io import ModelInput
    from medadapt.models.loading import load_adapter

    target = _old_llava_delta(tiny_llama, tmp_path / "delta")
    vision = CLIPVisionModel(tiny_clip_vision_config())
    vision.save_pretrained(tmp_path / "clip")
    out = merge_llava_delta(tiny_llama, tmp_path / "delta", tmp_path / "clip", tmp_path / "llava")
    adapter = load_adapter(str(out))
    assert (
        adapter.capabilities.images
        and adapter.image_marker == "<im_patch>"
        and adapter.tokens_per_image == 16
    )

    # Text-only prompts go through the merged LLaMA exactly.
    config = LlamaConfig.from_pretrained(tiny_llama)
    config.vocab_size = target["lm_head.weight"].shape[0]
    reference = LlamaForCausalLM(config).eval()
    reference.load_state_dict({k: v for k, v in target.items() if "mm_projector" not in k})
    options = option_token_ids(adapter.tokenizer, ["A", "B"])
    prompt = "Question: which? (A) x (B) y\nAnswer:"
    with torch.inference_mode():
        logits = reference(input_ids=torch.tensor([adapter.encode(prompt)])).logits[0, -1]
    expected = torch.log_softmax(logits, -1)[[options.ids[0][0], options.ids[1][0]]].numpy()
    got = adapter.score_options([prompt], option_token_ids(adapter.tokenizer, ["A", "B"], policy="study"))
    np.testing.assert_allclose(got.logprobs[0], expected, atol=1e-4)

    from PIL import Image

    Image.new("RGB", (32, 32), (10, 200, 10)).save(tmp_path / "img.png")
    image_prompt = ModelInput("<im_start><im_patch><im_end>\n" + prompt, (str(tmp_path / "img.png"),))
    assert adapter.score_options([image_prompt], options).status == ["ok"]
