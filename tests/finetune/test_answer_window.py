"""The answer loss reads only the logits it needs (`logits_to_keep`) and equals the loss over every position."""

from __future__ import annotations

from pathlib import Path

import torch

from medadapt.finetune.lora import attach_lora
from medadapt.finetune.optimizer_steps import build_trainer
from medadapt.finetune.runtime import Runtime
from medadapt.finetune.spec import LoraConfigSpec
from medadapt.finetune.supervised import SupervisedPair, encode_pairs

PAIRS = [
    SupervisedPair(prompt="A long question about the heart " * 6, target=" (A) heart", example_id="long"),
    SupervisedPair(prompt="Short one?", target=" (B) liver and more", example_id="short"),
]


def _losses(tiny_lm: Path, window: bool) -> tuple[float, list[torch.Tensor]]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_lm)
    torch.manual_seed(0)
    model = attach_lora(AutoModelForCausalLM.from_pretrained(tiny_lm), LoraConfigSpec(r=4))
    params = [p for p in model.parameters() if p.requires_grad]
    trainer = build_trainer(
        model, [{"params": params}], runtime=Runtime.create("fp32", "cpu"), learning_rate=1e-3, lr_scheduler="constant",
        warmup_ratio=0.0, total_steps=1, micro_batch_size=2, pad_token_id=0, max_grad_norm=None,
    )
    assert trainer.keeps_logits  # a transformers causal LM under peft takes `logits_to_keep`
    trainer.keeps_logits = window
    loss, count = trainer.summed_loss(encode_pairs(tokenizer, PAIRS))
    loss.backward()
    assert count > 0
    return float(loss.detach()), [p.grad.clone() for p in params if p.grad is not None]


def test_windowed_answer_loss_and_gradients_equal_the_full_ones(tiny_lm: Path) -> None:
    windowed, windowed_grads = _losses(tiny_lm, window=True)
    full, full_grads = _losses(tiny_lm, window=False)
    assert abs(windowed - full) < 1e-4 * max(1.0, abs(full))
    assert len(windowed_grads) == len(full_grads) > 0
    for a, b in zip(windowed_grads, full_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
