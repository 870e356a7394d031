"""report.html rendered by headless Chromium: the verdict table and a figure are there."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from rich.console import Console

from medadapt.study.config import parse_config
from medadapt.study.demo import demo_config
from medadapt.study.runner import execute_study

pytestmark = pytest.mark.browser

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")


def test_report_renders_in_chromium(tiny_models: tuple[Path, Path], tmp_path: Path) -> None:
    browser = chromium()
    general, medical = tiny_models
    data = demo_config(general, medical, tiny=True)
    data.update(tasks=["mmlu_anatomy"], settings=["zero-shot"], decodings=["constrained"], finetune={"enabled": False})
    data["prompt_selection"] = {"mode": "default"}
    config = parse_config(data, source="tiny demo", base=Path.cwd())
    run = execute_study(config, tmp_path / "run", console=Console(quiet=True))
    html = run / "report" / "report.html"
    profile = tmp_path / "profile"
    common = [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}"]
    dom = subprocess.run(
        [*common, "--dump-dom", html.as_uri()], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    assert 'id="verdict-table"' in dom
    assert "tiny-medical vs tiny-general" in dom
    assert "<img" in dom and "data:image/png;base64," in dom
    screenshot = tmp_path / "report.png"
    subprocess.run(
        [*common, f"--screenshot={screenshot}", "--window-size=1200,2000", html.as_uri()],
        capture_output=True, timeout=120, check=True,
    )
    assert screenshot.is_file() and screenshot.stat().st_size > 10_000
