"""The README's usage example runs as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "packages" / "decoding" / "README.md"


def test_readme_example_runs(capsys: object) -> None:
    code = re.search(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert code is not None
    exec(compile(code.group(1), str(README), "exec"), {})
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    assert "'B'" not in out and "B" in out.splitlines()[-2]


def test_namespace_package_merges_with_siblings() -> None:
    import importlib.util

    import medadapt.decoding

    assert not Path(medadapt.decoding.__file__).parent.parent.joinpath("__init__.py").exists()
    if importlib.util.find_spec("medadapt.prompts") is not None:
        import medadapt.prompts
