"""A study killed with SIGKILL at several points and restarted ends with one record per (run key, item) and the
same report as an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from medadapt.study.store import read_store

pytestmark = pytest.mark.slow


def demo_command(out: Path, cache: Path) -> list[str]:
    return [sys.executable, "-m", "medadapt.study", "demo", "--tiny", "--out", str(out), "--cache-dir", str(cache)]


def prediction_lines(run: Path) -> int:
    total = 0
    for path in (run / "store").glob("*/predictions.jsonl"):
        total += path.read_bytes().count(b"\n")
    return total


def log_mentions(run: Path, text: str) -> bool:
    log = run / "logs" / "study.log"
    return log.is_file() and text in log.read_text(encoding="utf-8", errors="replace")


def run_until(command: list[str], stop_when: Callable[[], bool], timeout: float = 240) -> bool:
    """Start the study and SIGKILL it as soon as `stop_when()` holds; True if it was killed, False if it finished."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    try:
        while process.poll() is None:
            if stop_when():
                os.kill(process.pid, signal.SIGKILL)
                process.wait()
                return True
            if time.monotonic() > deadline:
                raise AssertionError("the study did not reach the kill point in time")
            time.sleep(0.005)
        assert process.returncode == 0, process.stderr.read().decode() if process.stderr else ""
        return False
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()


def report_bytes(run: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((run / "report").iterdir()) if p.is_file()}


def test_killed_three_times_then_resumed_equals_uninterrupted(tmp_path: Path, tiny_cache: Path) -> None:
    reference = tmp_path / "reference"
    subprocess.run(demo_command(reference, tiny_cache), check=True, capture_output=True, timeout=300)
    total = prediction_lines(reference)
    assert total > 50

    run = tmp_path / "killed"
    command = demo_command(run, tiny_cache)
    kill_points: list[tuple[str, Callable[[], bool]]] = [
        ("after the first predictions", lambda: prediction_lines(run) >= 3),
        ("during fine-tuning", lambda: (run / "finetune").is_dir()),
        ("while writing the report", lambda: log_mentions(run, "writing the report")),
    ]
    killed = []
    for name, condition in kill_points:
        if run_until(command, condition):
            killed.append(name)
    assert len(killed) >= 3, f"only killed at {killed}"
    assert not run_until(command, lambda: False), "the final restart must finish"

    view = read_store(run)
    assert view.duplicates == 0
    ref_view = read_store(reference)
    assert {k: sorted(v) for k, v in view.predictions.items()} == {k: sorted(v) for k, v in ref_view.predictions.items()}
    assert prediction_lines(run) == total
    assert report_bytes(run) == report_bytes(reference)
