"""A study whose greedy units score fewer test items (limits.max_greedy_items, as the demo does) is complete."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from medadapt.study.config import parse_config
from medadapt.study.demo import demo_config
from medadapt.study.runner import execute_study


def test_fewer_greedy_items_pass_the_store_check(tiny_models: tuple[Path, Path], tmp_path: Path) -> None:
    data = demo_config(*tiny_models, tiny=True)
    data.update(tasks=["mmlu_anatomy"], settings=["zero-shot"], medopt=False, finetune={"enabled": False})
    data["limits"].update(max_test_items=8, max_greedy_items=3)
    run = execute_study(parse_config(data, source="t", base=tmp_path), tmp_path / "run", console=Console(quiet=True))
    report = json.loads((run / "report" / "report.json").read_text())
    assert report["integrity"]["complete"] is True
    assert {(c["decoding"], c["n"]) for c in report["comparisons"]} == {("constrained", 8), ("greedy", 3)}
