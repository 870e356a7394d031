"""The README's Python example runs (on a one-task study of the tiny demo models)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

README = Path(__file__).resolve().parents[2] / "apps" / "study" / "README.md"


def test_readme_python_example_runs(
    tiny_models: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from medadapt.study.demo import packaged_path

    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    assert blocks, "the README has a Python example"
    general, medical = tiny_models
    study = {
        "name": "readme",
        "data_dir": str(packaged_path("demo_data")),
        "pairs": [{"general": {"path": str(general)}, "medical": {"path": str(medical)}}],
        "tasks": ["mmlu_anatomy"],
        "statistics": {"n_resamples": 200},
        "limits": {"max_test_items": 6},
    }
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(study), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    exec(compile(blocks[-1], str(README), "exec"), {})
    assert (tmp_path / "runs" / "my-study" / "report" / "report.html").is_file()
