"""A plugin package from outside the repo is found through entry points by the registry, loader and CLI."""

from __future__ import annotations

import shutil
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from medadapt.models import cli
from medadapt.models.loading import _entry_points, list_adapters, load_adapter
from medadapt.models.registry import PAIRS, get_model, list_models, refresh_registry

FIXTURE = Path(__file__).parent / "fixtures" / "tiny_plugin"


def _install_as_dist_info(target: Path) -> None:
    """What `pip install` leaves behind, minus pip: the module and a dist-info with the entry points."""
    project = tomllib.loads((FIXTURE / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    shutil.copytree(FIXTURE / "src" / "medadapt_tiny_plugin", target / "medadapt_tiny_plugin")
    dist = target / f"medadapt_tiny_plugin-{project['version']}.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n", encoding="utf-8"
    )
    lines = []
    for group, eps in project["entry-points"].items():
        lines.append(f"[{group}]")
        lines += [f"{name} = {value}" for name, value in eps.items()]
    (dist / "entry_points.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture
def installed_plugin(tmp_path: Path, tiny_llama: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    _install_as_dist_info(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("MEDADAPT_TINY_PLUGIN_MODEL", str(tiny_llama))
    refresh_registry()
    _entry_points.cache_clear()
    yield
    monkeypatch.undo()
    refresh_registry()
    _entry_points.cache_clear()


@pytest.mark.usefixtures("installed_plugin")
def test_plugin_registry_and_adapter_are_found(capsys: pytest.CaptureFixture[str]) -> None:
    assert "tiny-reversed-options" in list_adapters()
    assert {"tiny-plugin-general", "tiny-plugin-medical"} <= set(list_models())
    assert ("tiny-plugin-general", "tiny-plugin-medical") in {(p.general, p.medical) for p in PAIRS}
    assert "entry point 'tiny-plugin'" in get_model("tiny-plugin-general").source
    adapter = load_adapter("tiny-plugin-general")
    assert type(adapter).__name__ == "PluginAdapter"
    assert adapter.generate(["Question: A or B?\nAnswer:"], max_new_tokens=3)[0].status == "ok"
    assert cli.main(["list"]) == 0
    listing = capsys.readouterr().out
    assert "tiny-plugin-medical" in listing and "medical version of tiny-plugin-general" in listing


def test_without_the_plugin_nothing_leaks() -> None:
    assert "tiny-plugin-general" not in list_models()


def test_cli_show(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["show", "meditron-7b"]) == 0
    assert '"prompt_style": "meditron"' in capsys.readouterr().out
