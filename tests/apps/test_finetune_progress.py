"""The fine-tuning phase shows rich progress: a trial count per sweep, optimizer steps per trial, the evaluation."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from rich.console import Console

from medadapt.study.config import parse_config
from medadapt.study.demo import packaged_path
from medadapt.study.runner import execute_study

pytestmark = pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")


def test_finetune_phase_reports_trials_and_steps(tiny_models: tuple[Path, Path], tmp_path: Path) -> None:
    general, medical = tiny_models
    data = {
        "name": "ft-progress",
        "data_dir": str(packaged_path("demo_data")),
        "pairs": [{"general": {"path": str(general), "prompt_style": "chat"},
                   "medical": {"path": str(medical), "prompt_style": "chat"}}],
        "tasks": ["mmlu_anatomy"],
        "finetune": {"enabled": True, "ranks": [4], "learning_rates": [0.001, 0.002], "max_epochs": 2,
                     "batch_size": 4, "max_train_items": 8, "decodings": ["greedy"]},
        "statistics": {"n_resamples": 200},
        "limits": {"max_test_items": 4, "batch_size": 4, "max_new_tokens": 2},
    }
    config = parse_config(data, source="test", base=Path.cwd())
    out = io.StringIO()
    execute_study(config, tmp_path / "run", console=Console(file=out, width=200, force_terminal=False))
    text = out.getvalue()
    for model in ("tiny-general", "tiny-medical"):
        label = f"{model}+lora-mmlu_anatomy"
        assert re.search(rf"fine-tune {re.escape(label)}: trials\s.*2/2", text), text
        # 8 items, batch 4, 2 epochs: 4 optimizer steps per trial, each with its validation loss shown.
        trial_lines = [line for line in text.splitlines() if f"{label} · " in line and "val loss" in line]
        assert len(trial_lines) == 2 and all(" 4/4 " in line for line in trial_lines), trial_lines
        assert re.search(rf"test {re.escape(label)} · mmlu_anatomy · fine-tuned · greedy\s.*4/4", text), text


def test_demo_model_build_shows_its_steps(tmp_path: Path) -> None:
    from medadapt.study.demo import PRETRAINING, build_demo_models

    out = io.StringIO()
    build_demo_models(tmp_path, tiny=True, console=Console(file=out, width=200, force_terminal=False))
    steps = PRETRAINING["tiny"]["max_steps"]
    assert re.search(rf"continued pretraining · loss \d+\.\d+\s.*{steps}/{steps}", out.getvalue()), out.getvalue()
