"""The documented command `python -m medadapt.prompts tasks --data DIR`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from medadapt.prompts.cli import main


def test_tasks_command_in_process(shared_data: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    code = main(["tasks", "--data", str(shared_data), "--task", "mmlu_virology", "--task", "medqa-usmle"])
    out = capsys.readouterr().out
    assert code == 0
    assert "mmlu_virology" in out and "MISMATCH" not in out
    assert "medqa-usmle                          test     1273      1273 ok" in out


def test_module_entry_point(shared_data: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "medadapt.prompts", "tasks", "--data", str(shared_data), "--task", "pubmedqa"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (
        "pubmedqa" in result.stdout and "absent" in result.stdout
    )  # PQA-A (train) is not in the data folder
