"""The Ray executor on a local Ray instance writes the same store and the same report as the local executor."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from medadapt.study.config import parse_config
from medadapt.study.demo import demo_config
from medadapt.study.runner import execute_study

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def test_ray_local_equals_local_executor(tiny_models: tuple[Path, Path], tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="the Ray executor needs the [ray] extra")
    general, medical = tiny_models
    data = demo_config(general, medical, tiny=True)
    data["finetune"] = {"enabled": False}
    data["tasks"] = ["mmlu_anatomy", "pubmedqa"]
    config = parse_config(data, source="tiny demo", base=Path.cwd())
    local = execute_study(config, tmp_path / "local", console=Console(quiet=True))
    distributed = execute_study(config, tmp_path / "ray", console=Console(quiet=True), ray_address="local")
    local_report = json.loads((local / "report" / "report.json").read_text())
    ray_report = json.loads((distributed / "report" / "report.json").read_text())
    assert ray_report == local_report
    shards = sorted(p.name for p in (distributed / "store").iterdir())
    assert shards == sorted(p.name for p in (local / "store").iterdir())
    assert len(shards) == 4  # one per (model, task)
