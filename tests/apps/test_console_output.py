"""What a study prints: its own progress, not a transformers bar for every model load."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console
from transformers.utils import logging as transformers_logging

from medadapt.study.config import parse_config
from medadapt.study.demo import demo_config
from medadapt.study.runner import execute_study

LOAD_BAR = "Loading weights"


@pytest.fixture
def transformers_bars_on() -> Iterator[None]:
    """Start with transformers' bars on (as in a fresh process) and leave them as the test found them."""
    was_on = transformers_logging.is_progress_bar_enabled()
    transformers_logging.enable_progress_bar()
    yield
    (transformers_logging.enable_progress_bar if was_on else transformers_logging.disable_progress_bar)()


def test_a_study_run_draws_no_transformers_load_bars(
    transformers_bars_on: None, tiny_models: tuple[Path, Path], tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    from transformers import AutoModelForCausalLM

    AutoModelForCausalLM.from_pretrained(tiny_models[0])
    assert LOAD_BAR in capfd.readouterr().err  # the bar this test is about, drawn before a study silences it

    data = demo_config(*tiny_models, tiny=True)
    data.update(tasks=["mmlu_anatomy"], settings=["zero-shot"], decodings=["constrained"], medopt=False,
                finetune={"enabled": False})
    data["prompt_selection"].update(mode="default")
    data["limits"].update(max_test_items=4)
    execute_study(parse_config(data, source="t", base=tmp_path), tmp_path / "run", console=Console(quiet=True))
    assert LOAD_BAR not in capfd.readouterr().err
