"""LLaVA LoRA (docs/protocol.md#vlm-fine-tuning) on medadapt-models' tiny LLaVA with real VQA-RAD images."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medadapt.finetune.spec import SweepSpec, TrainingSpec
from medadapt.finetune.supervised import IGNORE_INDEX, SupervisedPair
from medadapt.finetune.sweep import run_sweep


@pytest.fixture(scope="module")
def tiny_llava(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from medadapt.models.testing import build_tiny_llava

    return build_tiny_llava(tmp_path_factory.mktemp("tiny-llava") / "llava")


def _pairs(shared_data: Path, base: Path) -> list[SupervisedPair]:
    """Twelve real VQA-RAD training questions with their images (medadapt-prompts loader)."""
    from medadapt.finetune.task_pairs import training_pairs
    from medadapt.prompts import load_task

    examples = load_task("vqa-rad", shared_data, split="train").examples[:12]
    # HF LLaVA expands an <image> marker itself, so the text template is the plain default one.
    return training_pairs(examples, base, fmt="default", use_chat_template=False)


def test_llava_lora_trains_language_linears_only(tiny_llava: Path, shared_data: Path, tmp_path: Path) -> None:
    pairs = _pairs(shared_data, tiny_llava)
    spec = SweepSpec(ranks=(4,), learning_rates=(3e-3,), training=TrainingSpec(max_epochs=2, batch_size=4))
    result = run_sweep(tiny_llava, pairs[:8], pairs[8:], tmp_path / "sweep", spec, progress=False)
    history = result.best_trial.history
    assert len(history) == 2 and history[1]["val_loss"] < history[0]["val_loss"]
    config = json.loads((Path(result.best_trial.adapter_dir) / "adapter_config.json").read_text())
    targets = config["target_modules"]
    assert targets and all("language_model" in t for t in targets)
    assert not any(
        part in t for t in targets for part in ("vision_tower", "multi_modal_projector", "lm_head")
    )
    assert (
        result.registry_entry.adapter == "llava"
        and result.registry_entry.lora == result.best_trial.adapter_dir
    )


def test_image_tokens_are_masked_and_counted(tiny_llava: Path, shared_data: Path) -> None:
    from transformers import AutoProcessor

    from medadapt.finetune.vlm import encode_vlm_pair

    processor = AutoProcessor.from_pretrained(tiny_llava)
    pair = _pairs(shared_data, tiny_llava)[0]
    f = encode_vlm_pair(processor, pair)
    image_id = processor.tokenizer.convert_tokens_to_ids("<image>")
    n_image = f.input_ids.count(image_id)
    assert n_image > 1  # expanded to one token per patch
    assert all(
        label == IGNORE_INDEX for tok, label in zip(f.input_ids, f.labels, strict=True) if tok == image_id
    )
    assert f.labels[-1] == processor.tokenizer.eos_token_id
    assert "pixel_values" in f.extras
    assert f.input_ids.index(image_id) <= 1  # the untagged image was put first, as the LLaVA adapter does
    bad = SupervisedPair(prompt="<image><image>", target=" yes", images=pair.images, example_id="x")
    with pytest.raises(ValueError, match="2 '<image>' markers but 1 images"):
        encode_vlm_pair(processor, bad)


def test_llava_v0_layout_fine_tunes_through_the_study_call(shared_data: Path, tmp_path: Path) -> None:
    """The study app's call (`run_sweep(spec, training_pairs(...), training_pairs(...), ...)`) on a LLaVA-v0 spec:
    prompts hold `<im_start>` + 256 `<im_patch>` + `<im_end>` per image, as the study's LLaVA-v0 / LLaVA-Med."""
    from medadapt.finetune import training_pairs
    from medadapt.models import ModelSpec
    from medadapt.models.testing import build_tiny_llava
    from medadapt.prompts import load_task

    path = build_tiny_llava(tmp_path / "v0", layout="llava-v0")
    spec = ModelSpec(
        name="llava-med-tiny", hf_id_or_path=str(path), family="llava", adapter="llava", prompt_style="llava-med"
    )
    examples = load_task("vqa-rad", shared_data, split="train").examples[:6]
    train, val = training_pairs(examples[:4], spec), training_pairs(examples[4:], spec)
    assert train[0].prompt.count("<im_patch>") == 256 * len(examples[0].images)
    assert "### Human: " in train[0].prompt and train[0].prompt.endswith("### Assistant:")
    sweep = SweepSpec(ranks=(4,), learning_rates=(3e-3,), training=TrainingSpec(max_epochs=2, batch_size=2))
    result = run_sweep(spec, train, val, tmp_path / "sweep", sweep, name="llava-med-tiny+lora", progress=False)
    history = result.best_trial.history
    assert len(history) == 2 and history[1]["val_loss"] < history[0]["val_loss"]
    assert result.registry_entry.adapter == "llava" and result.registry_entry.prompt_style == "llava-med"
