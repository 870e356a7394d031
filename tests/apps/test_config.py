"""Study config validation: one-line errors naming the file, the key and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from medadapt.study.config import load_config
from medadapt.study.errors import StudyError

BASE = """\
data_dir: .
pairs:
  - general: gen-model
    medical: {path: ./med}
tasks: [pubmedqa]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "study.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path: Path) -> str:
    with pytest.raises(StudyError) as info:
        load_config(path)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    return message


def test_minimal_config_gets_defaults_and_absolute_paths(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, BASE))
    assert config.data_dir == tmp_path
    assert config.pairs[0].medical.path == str(tmp_path / "med")
    assert config.pairs[0].general.name == "gen-model"
    assert [s.name for s in config.settings] == ["zero-shot"]
    assert config.prompt_selection.mode == "default"
    assert [m.label for m in config.models()] == ["med", "gen-model"]


def test_settings_accept_k_shot_strings(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, BASE + "settings: [zero-shot, 3-shot, {name: five, shots: 5, tasks: [pubmedqa]}]\n"))
    assert [(s.name, s.shots) for s in config.settings] == [("zero-shot", 0), ("3-shot", 3), ("five", 5)]
    assert config.settings[2].applies_to("pubmedqa") and not config.settings[2].applies_to("medqa")


def test_unknown_key_names_path_and_allowed_keys(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, BASE.replace("{path: ./med}", "{path: ./med, prompt_stlye: chat}")))
    assert "pairs[0].medical.prompt_stlye: unknown key" in message
    assert "prompt_style" in message and "allowed keys" in message


def test_bad_enum_value_lists_allowed_values(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, BASE + "decodings: [greedy, beam]\n"))
    assert "decodings[1]" in message and "'greedy'" in message and "'constrained'" in message and "beam" in message


def test_bad_setting(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, BASE + "settings: [two-shot]\n"))
    assert "settings" in message and "two-shot" in message and "<k>-shot" in message


def test_nested_statistics_key(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, BASE + "statistics: {rule: majority}\n"))
    assert "statistics.rule" in message and "'ci'" in message


def test_missing_required_key(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, "data_dir: .\ntasks: [pubmedqa]\n"))
    assert "pairs: required key is missing" in message


def test_malformed_yaml_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, "data_dir: .\npairs: [{general: a, medical: b]\n")
    message = error_of(path)
    assert f"{path}:2:" in message and "malformed YAML" in message


def test_not_a_mapping(tmp_path: Path) -> None:
    assert "must be a mapping" in error_of(write(tmp_path, "- a\n- b\n"))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(StudyError, match="study config not found"):
        load_config(tmp_path / "nope.yaml")


def test_shipped_configs_validate() -> None:
    from medadapt.study.demo import packaged_path

    for name in ("demo.yaml", "demo-tiny.yaml", "paper-llm.yaml", "paper-vlm.yaml"):
        config = load_config(packaged_path("configs", name))
        assert config.pairs and config.tasks


def test_paper_configs_name_registered_models_and_tasks() -> None:
    from medadapt.models import list_models
    from medadapt.prompts import list_tasks
    from medadapt.study.demo import packaged_path

    models, tasks = set(list_models()), set(list_tasks())
    for name in ("paper-llm.yaml", "paper-vlm.yaml"):
        config = load_config(packaged_path("configs", name))
        assert {m.label for m in config.models()} <= models, name
        named = set(config.tasks) | set(config.finetune.tasks) | {t for s in config.settings for t in s.tasks or []}
        assert named <= tasks, name
