"""The README's usage example runs as written (with its output directory moved under tmp_path)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "packages" / "models" / "README.md"


def test_readme_example_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = re.search(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert code is not None, "README.md has no python block"
    source = code.group(1).replace("/tmp/medadapt-tiny-llama", str(tmp_path / "tiny"))
    exec(compile(source, str(README), "exec"), {})
    assert "['ok', 'ok', 'ok']" in capsys.readouterr().out


def test_import_is_light() -> None:
    import subprocess
    import sys

    check = "import sys, medadapt.models; print('torch' in sys.modules, 'transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
