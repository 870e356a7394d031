"""`medadapt plan`: exact prompt counts per model × task × phase before anything runs, tokens from the model's tokenizer."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from medadapt.study.cli import app
from medadapt.study.config import parse_config
from medadapt.study.demo import demo_config
from medadapt.study.task_data import load_study_task


def test_plan_counts_every_prompt_of_the_grid(tiny_models: tuple[Path, Path], tmp_path: Path) -> None:
    data = demo_config(*tiny_models, tiny=True)
    data["prompt_selection"].update(n_formats=3, n_shot_seeds=2)
    config_path = tmp_path / "study.yaml"
    config_path.write_text(yaml.safe_dump(data), encoding="utf-8")
    out = tmp_path / "plan.json"
    result = CliRunner().invoke(app, ["plan", str(config_path), "--tokens-per-second", "1000", "--json", str(out)])
    assert result.exit_code == 0, result.output
    rows = {(r["model"], r["task"], r["phase"]): r for r in json.loads(out.read_text())}
    config = parse_config(data, source="t", base=tmp_path)
    n_decodings = len(config.decodings)
    for task in config.tasks:
        splits = load_study_task(config, task)
        settings = [s for s in config.settings if s.applies_to(task)]
        grid = sum(1 + 3 if s.shots == 0 else (1 + 3) * 2 for s in settings)
        for model, counterparts in (("tiny-medical", 0), ("tiny-general", 1)):
            selection = rows[(model, task, "selection")]
            assert selection["prompts"] == grid * len(splits.val) * n_decodings
            assert selection["racing_prompts"] <= selection["prompts"]
            assert selection["tokens_exact"] and selection["tokens"] > selection["prompts"]
            test = rows[(model, task, "test")]
            assert test["prompts"] == len(splits.test) * (1 + counterparts) * len(settings) * n_decodings
            assert test["hours"] == test["tokens"] / 1000 / 3600
    trials = len(config.finetune.ranks) * len(config.finetune.learning_rates)
    anatomy = load_study_task(config, "mmlu_anatomy")
    finetune = rows[("tiny-general", "mmlu_anatomy", "fine-tuning")]
    epochs_items = config.finetune.max_epochs * (len(anatomy.train) + len(anatomy.val))
    assert finetune["prompts"] == trials * epochs_items + len(anatomy.test) * len(config.finetune.decodings)
    assert "all:" in result.output


def test_plan_of_a_missing_config_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["plan", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2


def test_plan_probe_measures_this_machine(tiny_models: tuple[Path, Path], tmp_path: Path) -> None:
    config_path = tmp_path / "study.yaml"
    config_path.write_text(yaml.safe_dump(demo_config(*tiny_models, tiny=True)), encoding="utf-8")
    out = tmp_path / "plan.json"
    result = CliRunner().invoke(app, ["plan", str(config_path), "--probe", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "prompt tokens/s with tiny-medical" in result.output
    assert all(row["hours"] > 0 for row in json.loads(out.read_text()))
