"""The package must not pull torch (or other heavy libraries) in at import."""

from __future__ import annotations

import subprocess
import sys


def test_import_does_not_import_torch() -> None:
    code = (
        "import sys, medadapt.prompts\n"
        "heavy = [m for m in ('torch', 'transformers', 'datasets', 'pandas') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
