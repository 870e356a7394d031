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


def test_saved_lora_loads_with_peft_and_gives_the_trained_outputs(tiny_lm: Path, tmp_path: Path) -> None:
    import json

    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from medadapt.finetune import LoraSelection

    selection = LoraSelection(LoraConfigSpec(r=4))
    trained = selection.apply(AutoModelForCausalLM.from_pretrained(tiny_lm))
    with torch.no_grad():
        for name, param in trained.named_parameters():
            if "lora_B" in name:  # B starts at zero: make the adapter change the outputs
                param.normal_(std=0.5)
    selection.save_trained(trained, tmp_path / "adapter")
    config = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text(encoding="utf-8"))
    assert config["inference_mode"] is True and config["r"] == 4
    assert trained.peft_config["default"].inference_mode is False  # the model being trained is left as it was
    loaded = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_lm), str(tmp_path / "adapter"))
    base = AutoModelForCausalLM.from_pretrained(tiny_lm)
    ids = torch.tensor([[1, 5, 9, 13]])
    with torch.no_grad():
        expected = trained(input_ids=ids).logits
        assert not torch.allclose(expected, base(input_ids=ids).logits)
        torch.testing.assert_close(loaded(input_ids=ids).logits, expected)


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


class _ToyFlamingoForTraining(_ToyFlamingo):
    """open-flamingo's forward signature (vision_x, lang_x, attention_mask) → an output with `.logits`."""

    def forward(  # type: ignore[override]
        self, vision_x: torch.Tensor, lang_x: torch.Tensor, attention_mask: torch.Tensor
    ) -> object:
        from types import SimpleNamespace

        media = self.perceiver(self.vision_encoder(vision_x.flatten(1, 2)))
        return SimpleNamespace(logits=self.lang_encoder(lang_x, media))


def test_flamingo_selection_drives_the_generic_training_loop(tmp_path: Path) -> None:
    from medadapt.finetune.spec import TrainingSpec, TrialSpec
    from medadapt.finetune.supervised import SupervisedFeatures
    from medadapt.finetune.training_loop import train_trial

    torch.manual_seed(0)
    base = _ToyFlamingoForTraining()
    before = {n: p.detach().clone() for n, p in base.named_parameters()}
    features = [
        SupervisedFeatures(
            (1, 3, 4 + i % 2, 7, 2),
            (-100, -100, -100, 7, 2),
            str(i),
            {"pixel_values": torch.randn(1, 1, 1, 4)},
        )
        for i in range(8)
    ]
    trial = TrialSpec(
        index=0,
        lora=LoraConfigSpec(),
        training=TrainingSpec(learning_rate=5e-2, max_epochs=2, batch_size=4, weight_decay=0.1),
    )
    selection = FlamingoSelection(special_token_ids=(3, 7))
    result = train_trial(
        trial,
        load_model=lambda runtime: base,
        selection=selection,
        train=features[:6],
        val=features[6:],
        trial_dir=tmp_path,
        pad_token_id=0,
        progress=False,
    )
    assert result.history[-1]["val_loss"] < result.history[0]["val_loss"]
    changed = {n for n, p in base.named_parameters() if not torch.equal(p, before[n])}
    assert changed and all(
        "perceiver" in n or "gated_cross_attn" in n or n.endswith("embed.weight") for n in changed
    )
    embed = "lang_encoder.embed.weight"
    rows = set(torch.nonzero((base.state_dict()[embed] != before[embed]).any(1)).flatten().tolist())
    assert rows <= {3, 7} and rows
    assert (tmp_path / "best" / "trainable.safetensors").is_file()
