"""Flamingo loads its real weights (local path or hub id via the HF cache) or fails clearly; batches; device/dtype."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from medadapt.decoding import option_token_ids
from medadapt.models.adapter_io import ModelInput
from medadapt.models.registry import ModelSpec

from .conftest import LETTERS, QUESTIONS, _import_engine

pytestmark = [
    pytest.mark.flamingo,
    # open-flamingo 2.0.1's language mixin still passes past_key_values (transformers 5.24).
    pytest.mark.filterwarnings("ignore:`past_key_values` is deprecated:FutureWarning"),
]

REPO = "tiny-org/tiny-flamingo"


@pytest.fixture(scope="module", autouse=True)
def _open_flamingo() -> None:
    _import_engine("open_flamingo", "open-flamingo is not installed here: hatch env 'flamingo'")


@pytest.fixture(scope="module")
def checkpoint_dir(tiny_dirs: dict[str, Path]) -> Path:
    from medadapt.models.testing import build_tiny_flamingo

    return build_tiny_flamingo(tiny_dirs["images"] / "flamingo", tiny_dirs["llama"])


def _spec(ref: str, lang: Path) -> ModelSpec:
    from medadapt.models.testing import tiny_flamingo_options

    return ModelSpec(
        name="tiny-flamingo", hf_id_or_path=ref, family="flamingo", adapter="flamingo",
        prompt_style="open-flamingo", context_length=512, adapter_options=tiny_flamingo_options(lang),
    )


def _prompts(images: Path) -> list[ModelInput]:
    grey, colour = str(images / "grey.png"), str(images / "colour.png")
    return [
        ModelInput("<image>" + QUESTIONS[0], (colour,)),
        ModelInput("<image>Question: Is it grey?<|endofchunk|><image>" + QUESTIONS[1], (grey, colour)),
        ModelInput(QUESTIONS[2]),
        ModelInput("<image>" + QUESTIONS[3], (grey,)),
    ]


def _scores(adapter: Any, prompts: list[ModelInput]) -> np.ndarray:
    options = option_token_ids(adapter.tokenizer, LETTERS, prompt_tail="Answer: (")
    result = adapter.score_options(prompts, options)
    assert result.status == ["ok"] * len(prompts)
    return np.asarray(result.logprobs)


@pytest.fixture(scope="module")
def saved_scores(checkpoint_dir: Path, tiny_dirs: dict[str, Path]) -> np.ndarray:
    """Scores of the saved model itself: a fresh Flamingo (other seed) given the saved state strictly."""
    import torch
    from open_flamingo import create_model_and_transforms

    from medadapt.models.flamingo import FlamingoAdapter
    from medadapt.models.testing import tiny_flamingo_options

    options = tiny_flamingo_options(tiny_dirs["llama"])
    torch.manual_seed(99)
    model, processor, tokenizer = create_model_and_transforms(
        clip_vision_encoder_path=options["vision_encoder"], clip_vision_encoder_pretrained=None,
        lang_encoder_path=str(tiny_dirs["llama"]), tokenizer_path=str(tiny_dirs["llama"]),
        cross_attn_every_n_layers=1, use_local_files=True, decoder_layers_attr_name="model.layers",
    )
    state = torch.load(checkpoint_dir / "checkpoint.pt", weights_only=True)["model_state_dict"]
    model.load_state_dict(state, strict=True)
    adapter = FlamingoAdapter(model, processor, tokenizer, context_length=512, batch_size=1, device="cpu")
    return _scores(adapter, _prompts(tiny_dirs["images"]))


def _hub_cache(root: Path, checkpoint: Path) -> Path:
    """The Hugging Face cache layout of REPO holding `checkpoint.pt` (refs/main → snapshots/<commit>)."""
    repo = root / ("models--" + REPO.replace("/", "--"))
    commit = "0123456789abcdef0123456789abcdef01234567"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit, encoding="utf-8")
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (snapshot / "checkpoint.pt").symlink_to(checkpoint / "checkpoint.pt")
    return root


def test_a_hub_id_loads_the_cached_checkpoint(
    checkpoint_dir: Path, tiny_dirs: dict[str, Path], saved_scores: np.ndarray, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import huggingface_hub
    import torch

    from medadapt.models import load_adapter

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(_hub_cache(tmp_path, checkpoint_dir)))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    torch.manual_seed(7)  # a random initialisation unlike the saved one: only the checkpoint can make them agree
    adapter = load_adapter(_spec(REPO, tiny_dirs["llama"]), device="cpu", batch_size=3)
    np.testing.assert_allclose(_scores(adapter, _prompts(tiny_dirs["images"])), saved_scores, atol=1e-4, rtol=0)


@pytest.mark.parametrize("as_file", [False, True])
def test_a_local_directory_or_file_loads_the_checkpoint(
    checkpoint_dir: Path, tiny_dirs: dict[str, Path], saved_scores: np.ndarray, as_file: bool
) -> None:
    from medadapt.models import load_adapter

    ref = checkpoint_dir / "checkpoint.pt" if as_file else checkpoint_dir
    adapter = load_adapter(_spec(str(ref), tiny_dirs["llama"]), device="cpu", dtype="float32")
    assert adapter.device.type == "cpu"
    np.testing.assert_allclose(_scores(adapter, _prompts(tiny_dirs["images"])), saved_scores, atol=1e-4, rtol=0)


def test_a_missing_checkpoint_is_a_clear_error(
    tiny_dirs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub

    from medadapt.models import load_adapter

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(FileNotFoundError, match=r"checkpoint\.pt of tiny-org/absent@main is not in the local Hugging"):
        load_adapter(_spec("tiny-org/absent", tiny_dirs["llama"]))
    with pytest.raises(FileNotFoundError, match="missing checkpoint file"):
        load_adapter(_spec(str(tmp_path), tiny_dirs["llama"]))


def test_a_checkpoint_without_cross_attention_weights_is_refused(tiny_dirs: dict[str, Path], tmp_path: Path) -> None:
    import torch

    from medadapt.models import load_adapter

    torch.save({"model_state_dict": {"lang_encoder.unrelated": torch.zeros(1)}}, tmp_path / "checkpoint.pt")
    with pytest.raises(ValueError, match="they would stay random"):
        load_adapter(_spec(str(tmp_path), tiny_dirs["llama"]))


def test_batches_mixing_image_counts_equal_one_by_one(
    checkpoint_dir: Path, tiny_dirs: dict[str, Path], saved_scores: np.ndarray
) -> None:
    import torch

    from medadapt.models import load_adapter

    adapter = load_adapter(_spec(str(checkpoint_dir), tiny_dirs["llama"]), device="cpu", batch_size=4)
    prompts = _prompts(tiny_dirs["images"])
    np.testing.assert_allclose(_scores(adapter, prompts), saved_scores, atol=1e-4, rtol=0)
    together = adapter.generate(prompts, max_new_tokens=5)
    alone = [adapter.generate([p], max_new_tokens=5)[0] for p in prompts]
    assert [g.text for g in together] == [g.text for g in alone]
    bf16 = load_adapter(_spec(str(checkpoint_dir), tiny_dirs["llama"]), device="cpu", dtype="bfloat16")
    assert next(bf16.model.parameters()).dtype == torch.bfloat16


def test_flamingo_fine_tunes_through_the_study_call(
    checkpoint_dir: Path, tiny_dirs: dict[str, Path], tmp_path: Path
) -> None:
    """The study app's call (`run_sweep(spec, training_pairs(...), training_pairs(...), ...)`) on a Flamingo spec
    with image examples: the resampler, cross-attention and two token rows train; the result loads and scores."""
    import torch
    from safetensors.torch import load_file

    from medadapt.finetune import SweepSpec, TrainingSpec, run_sweep, training_pairs
    from medadapt.models import load_adapter
    from medadapt.prompts import QAExample

    images = tiny_dirs["images"]
    examples = [
        QAExample(str(i), "vqa-rad", "train", "Is the image grey?", ("yes", "no"), "A" if i % 2 else "B",
                  images=(str(images / ("grey.png" if i % 2 else "colour.png")),))
        for i in range(6)
    ]
    spec = _spec(str(checkpoint_dir), tiny_dirs["llama"])
    train, val = training_pairs(examples[:4], spec), training_pairs(examples[4:], spec)
    assert train[0].prompt == "<image>Question: Is the image grey? (A) yes, (B) no; Short answer: "
    sweep = SweepSpec(ranks=(4,), learning_rates=(1e-3,), training=TrainingSpec(max_epochs=2, batch_size=2))
    result = run_sweep(spec, train, val, tmp_path / "sweep", sweep, name="tiny-flamingo+ft", progress=False)
    history = result.best_trial.history
    assert len(history) == 2 and history[1]["val_loss"] < history[0]["val_loss"]
    trained = load_file(str(Path(result.best_trial.adapter_dir) / "trainable.safetensors"))
    assert "perceiver.latents" in trained and any("gated_cross_attn" in k for k in trained)
    assert not any(k.startswith("vision_encoder.") for k in trained)  # the vision encoder stays frozen
    entry = result.registry_entry
    assert entry.adapter == "flamingo" and entry.lora == result.best_trial.adapter_dir
    tuned = load_adapter(entry, device="cpu")
    assert torch.equal(tuned.model.perceiver.latents.detach(), trained["perceiver.latents"])
    prompts = [ModelInput(p.prompt, p.images) for p in val]
    assert _scores(tuned, prompts).shape == (2, len(LETTERS))
