"""A malformed config, an unknown model or task, a missing data file: one line, non-zero exit, nothing written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def medadapt(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "medadapt.study", *args], cwd=cwd, capture_output=True, text=True, timeout=240
    )


def study(tmp_path: Path, general: str, medical: str, tasks: str, data_dir: str) -> Path:
    path = tmp_path / "study.yaml"
    path.write_text(
        f"data_dir: {data_dir}\npairs:\n  - general: {{path: {general}}}\n    medical: {{path: {medical}}}\n"
        f"tasks: {tasks}\n",
        encoding="utf-8",
    )
    return path


def check_refused(result: subprocess.CompletedProcess[str], out: Path, *needles: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert not out.exists(), "nothing may be written when a study is refused"


@pytest.fixture
def demo_data() -> Path:
    from medadapt.study.demo import packaged_path

    return packaged_path("demo_data")


def test_malformed_config(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("data_dir: .\npairs: [{general: a, medical: b]\n", encoding="utf-8")
    out = tmp_path / "run"
    check_refused(medadapt("run", str(config), "--out", str(out), cwd=tmp_path), out, "bad.yaml:2", "malformed YAML")


def test_bad_key(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("data_dir: .\npairs: [{general: a, medical: b}]\ntasks: [pubmedqa]\ndecoding: [greedy]\n")
    out = tmp_path / "run"
    check_refused(medadapt("run", str(config), "--out", str(out), cwd=tmp_path), out, "decoding: unknown key", "decodings")


def test_unknown_task(tmp_path: Path, tiny_models: tuple[Path, Path], demo_data: Path) -> None:
    general, medical = tiny_models
    config = study(tmp_path, str(general), str(medical), "[pubmedqa, not-a-task]", str(demo_data))
    out = tmp_path / "run"
    check_refused(medadapt("run", str(config), "--out", str(out), cwd=tmp_path), out, "tasks[1]", "not-a-task")


def test_unknown_model(tmp_path: Path, tiny_models: tuple[Path, Path], demo_data: Path) -> None:
    general, _ = tiny_models
    path = tmp_path / "study.yaml"
    path.write_text(
        f"data_dir: {demo_data}\npairs:\n  - general: {{path: {general}}}\n    medical: no-such-model-7b\n"
        "tasks: [pubmedqa]\n",
        encoding="utf-8",
    )
    out = tmp_path / "run"
    check_refused(medadapt("run", str(path), "--out", str(out), cwd=tmp_path), out, "no-such-model-7b")


def test_missing_model_directory(tmp_path: Path, tiny_models: tuple[Path, Path], demo_data: Path) -> None:
    general, _ = tiny_models
    config = study(tmp_path, str(general), str(tmp_path / "gone"), "[pubmedqa]", str(demo_data))
    out = tmp_path / "run"
    check_refused(medadapt("run", str(config), "--out", str(out), cwd=tmp_path), out, "gone")


def test_missing_data_file(tmp_path: Path, tiny_models: tuple[Path, Path], demo_data: Path) -> None:
    import shutil

    general, medical = tiny_models
    data = tmp_path / "data"
    shutil.copytree(demo_data, data)
    (data / "pubmedqa" / "test_ground_truth.json").unlink()
    config = study(tmp_path, str(general), str(medical), "[mmlu_anatomy, pubmedqa]", str(data))
    out = tmp_path / "run"
    check_refused(medadapt("run", str(config), "--out", str(out), cwd=tmp_path), out, "test_ground_truth.json")


def test_report_of_a_non_run_directory(tmp_path: Path) -> None:
    result = medadapt("report", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 2 and "not a study run directory" in result.stderr
    assert list(tmp_path.iterdir()) == []
