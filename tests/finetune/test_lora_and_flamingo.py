from __future__ import annotations

from pathlib import Path

import pytest
import torch

from medadapt.finetune.flamingo import FlamingoSelection
from medadapt.finetune.lora import attach_lora, linear_target_modules
from medadapt.finetune.spec import LoraConfigSpec


def test_all_linear_layers_but_the_head_get_lora(tiny_lm: Path) -> None:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_lm)
    names = linear_target_modules(model)
    assert "lm_head" not in names
    leaves = {n.rsplit(".", 1)[-1] for n in names}
    assert leaves == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    peft_model = attach_lora(model, LoraConfigSpec(r=4))
    trainable = [n for n, p in peft_model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    assert len(trainable) == 2 * len(names)


def test_unknown_kind_is_rejected(tiny_lm: Path) -> None:
    from transformers import AutoModelForCausalLM

    with pytest.raises(ValueError, match="kind"):
        attach_lora(AutoModelForCausalLM.from_pretrained(tiny_lm), LoraConfigSpec(), kind="vlm")


class _ToyFlamingo(torch.nn.Module):
    """The module names of open-flamingo's model, small: vision encoder, perceiver, LM with gated x-attn."""

    def __init__(self) -> None:
        super().__init__()
        self.vision_encoder = torch.nn.Linear(4, 8)
        self.perceiver = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.LayerNorm(8))
        self.lang_encoder = _ToyLM()

    def forward(self, ids: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        media = self.perceiver(self.vision_encoder(image))
        return self.lang_encoder(ids, media)


class _ToyLM(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(10, 8)
        self.gated_cross_attn = torch.nn.Linear(8, 8)
        self.attn_gate = torch.nn.Parameter(torch.zeros(1))
        self.block = torch.nn.Linear(8, 8)
        self.head = torch.nn.Linear(8, 10)

    def get_input_embeddings(self) -> torch.nn.Embedding:
        return self.embed

    def forward(self, ids: torch.Tensor, media: torch.Tensor) -> torch.Tensor:
        h = self.embed(ids) + self.gated_cross_attn(media).mean(1, keepdim=True)
        return self.head(self.block(h))


def test_flamingo_selection_trains_resampler_cross_attention_and_two_embedding_rows(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = _ToyFlamingo()
    selection = FlamingoSelection(special_token_ids=(3, 7))
    selection.apply(model)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {
        "perceiver.0.weight",
        "perceiver.0.bias",
        "perceiver.1.weight",
        "perceiver.1.bias",
        "lang_encoder.embed.weight",
        "lang_encoder.gated_cross_attn.weight",
        "lang_encoder.gated_cross_attn.bias",
    }
    ids = torch.tensor([[1, 3, 5, 7]])
    model(ids, torch.randn(1, 2, 4)).sum().backward()
    grad = model.lang_encoder.embed.weight.grad
    assert grad is not None
    rows_with_grad = set(torch.nonzero(grad.abs().sum(1)).flatten().tolist())
    assert rows_with_grad == {3, 7}
    groups = selection.param_groups(model, weight_decay=0.1)
    decayed = {id(p) for g in groups if g["weight_decay"] > 0 for p in g["params"]}
    assert decayed == {id(model.lang_encoder.gated_cross_attn.weight)}
    selection.save_trained(model, tmp_path)
    assert (tmp_path / "trainable.safetensors").is_file() and (tmp_path / "flamingo_peft.json").is_file()


def test_flamingo_selection_names_what_it_could_not_find() -> None:
    with pytest.raises(ValueError, match="perceiver"):
        FlamingoSelection(special_token_ids=(0,)).apply(torch.nn.Linear(2, 2))
