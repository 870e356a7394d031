"""`medadapt demo` without medadapt-study[demo]: one line saying what to install, exit 2, nothing written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

# The CLI with gguf (the third-party module of the demo extra) made unimportable, as in an install without the extra.
WITHOUT_GGUF = "import sys; sys.modules['gguf'] = None; from medadapt.study.cli import app; app(prog_name='medadapt')"


def test_demo_without_its_extra_says_what_to_install(tmp_path: Path) -> None:
    pytest.importorskip("medadapt.study")
    out = tmp_path / "runs" / "demo"
    command = [sys.executable, "-c", WITHOUT_GGUF, "demo", "--out", str(out), "--cache-dir", str(tmp_path / "cache")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr[-2000:]
    assert lines[0].startswith("error: the demo needs gguf")
    assert "pip install 'medadapt-study[demo]'" in lines[0]
    assert not out.exists() and not (tmp_path / "cache").exists()
