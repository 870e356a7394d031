"""The VLM path of a study end to end on tiny LLaVA-v0-layout models and real VQA-RAD rows: every candidate keeps
the LLaVA conversation and its 256 `<im_patch>` per image; own prompts, medopt and fine-tuning all run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

# transformers 5 deprecates the name peft still calls while preparing a LoRA model for training.
pytestmark = pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")


def test_a_llava_v0_study_scores_generates_and_fine_tunes(shared_data: Path, tmp_path: Path) -> None:
    from rich.console import Console

    from medadapt.models.testing import build_tiny_llava
    from medadapt.study.config import parse_config
    from medadapt.study.runner import execute_study

    general = build_tiny_llava(tmp_path / "llava-v0-tiny", seed=0, layout="llava-v0")
    medical = build_tiny_llava(tmp_path / "llava-med-tiny", seed=1, layout="llava-v0")
    data = {
        "name": "vlm-tiny",
        "data_dir": str(shared_data),
        "pairs": [
            {
                "general": {"name": "llava-v0-tiny", "path": str(general), "prompt_style": "llava-v0"},
                "medical": {"name": "llava-med-tiny", "path": str(medical), "prompt_style": "llava-med"},
            }
        ],
        "tasks": ["vqa-rad"],
        "settings": ["zero-shot"],
        "decodings": ["constrained", "greedy"],
        "prompt_selection": {"mode": "model-specific", "n_formats": 1, "max_val_items": 3},
        "medopt": True,
        "finetune": {
            "enabled": True, "tasks": ["vqa-rad"], "ranks": [4], "learning_rates": [0.001], "max_epochs": 1,
            "batch_size": 2, "max_train_items": 4, "decodings": ["greedy"],
        },
        "statistics": {"n_resamples": 100},
        "limits": {"max_test_items": 3, "batch_size": 3, "max_new_tokens": 3},
    }
    run = execute_study(parse_config(data, source="test", base=tmp_path), tmp_path / "run", console=Console(quiet=True))
    report = json.loads((run / "report" / "report.json").read_text())
    assert {c["variant"] for c in report["comparisons"]} == {"own prompts", "medopt", "fine-tuned"}
    prompts = [
        json.loads(line)
        for shard in (run / "store").iterdir()
        for line in (shard / "prompts.jsonl").read_text().splitlines()
    ]
    assert any("QUESTION - " in p["text"] for p in prompts)  # the grammar candidate (format 0)
    for prompt in prompts:
        assert "### Human: " in prompt["text"] and "### Assistant:" in prompt["text"]
        assert prompt["text"].count("<im_patch>") == 256 * len(prompt["images"]) > 0
    view_status = {
        json.loads(line)["status"]
        for shard in (run / "store").iterdir()
        for line in (shard / "predictions.jsonl").read_text().splitlines()
        if line.strip()
    }
    assert view_status == {"ok"}
