"""Each distribution installs alone from the wheelhouse into a fresh venv, imports, and runs its README example.

Run by `hatch run dist:test` (CI's .ci/run): it builds the wheelhouse with scripts/build_wheelhouse.py, then runs
the README's wheelhouse line of each package in its own venv, with torch pinned to the project's CPU wheel through
a pip constraint and CC/CXX pointing at a failing command, so nothing can be compiled on the way.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .install_table import REPO, Project, extra_line, install_rows, projects, siblings

pytestmark = [
    pytest.mark.packaging,
    pytest.mark.skipif(
        os.environ.get("MEDADAPT_PACKAGING_TESTS") != "1",
        reason="builds the wheelhouse and six venvs (minutes): `hatch run dist:test`",
    ),
]

PROJECTS = projects()
ROWS = install_rows()
WHEELHOUSE = REPO / "dist" / "wheelhouse"  # where the README's `--find-links dist/wheelhouse` points
TORCH = "torch==2.13.0"  # the CPU wheel this project tests against; unpinned, pip would take a CUDA build

# The study README's example runs a study.yaml of the user's: here, one task of the packaged demo data on the tiny
# models medadapt-models builds offline.
STUDY_GIVEN = """
from pathlib import Path
import yaml
from rich.console import Console
from medadapt.study.demo import build_demo_models, packaged_path
general, medical = build_demo_models(Path("cache"), tiny=True, console=Console(quiet=True))
study = {"name": "readme", "data_dir": str(packaged_path("demo_data")), "tasks": ["mmlu_anatomy"],
         "pairs": [{"general": {"path": str(general)}, "medical": {"path": str(medical)}}],
         "statistics": {"n_resamples": 200}, "limits": {"max_test_items": 6}}
Path("study.yaml").write_text(yaml.safe_dump(study), encoding="utf-8")
"""
GIVEN = {"medadapt-study": STUDY_GIVEN}


@pytest.fixture(scope="module")
def wheelhouse() -> Path:
    script = REPO / "scripts" / "build_wheelhouse.py"
    subprocess.run([sys.executable, str(script), "--out", str(WHEELHOUSE)], check=True, cwd=REPO)
    return WHEELHOUSE


def test_wheelhouse_has_a_wheel_and_an_sdist_of_everything(wheelhouse: Path) -> None:
    for project in PROJECTS.values():
        stem = f"{project.name.replace('-', '_')}-{project.version}"
        assert (wheelhouse / f"{stem}.tar.gz").is_file(), stem
        wheels = sorted(p.name for p in wheelhouse.glob(f"{stem}-*.whl"))
        if project.name == "medadapt-decoding":
            tag = f"cp{sys.version_info.major}{sys.version_info.minor}"
            assert any(f"-{tag}-{tag}-manylinux_" in name for name in wheels), wheels
            assert all("manylinux_" in name for name in wheels), wheels
        else:
            assert wheels == [f"{stem}-py3-none-any.whl"]


class Venv:
    """A fresh venv whose pip sees the wheelhouse only through the README's line, and no compiler."""

    def __init__(self, root: Path) -> None:
        self.root = root
        subprocess.run([sys.executable, "-m", "venv", str(root / "venv")], check=True)
        self.bin = root / "venv" / "bin"
        constraints = root / "constraints.txt"
        constraints.write_text(TORCH + "\n", encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME", "PIP_REPORT"}}
        env.update(
            VIRTUAL_ENV=str(root / "venv"), PATH=f"{self.bin}{os.pathsep}{env['PATH']}",
            CC="/bin/false", CXX="/bin/false", CUDACXX="/bin/false",  # a source build would fail at once
            PIP_CONSTRAINT=str(constraints), PIP_DISABLE_PIP_VERSION_CHECK="1",
            PIP_NO_COMPILE="1",  # byte-compiling all of torch & co. at install is most of an install's CPU time
            OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
            MPLBACKEND="Agg", MEDADAPT_CACHE=str(root / "medadapt-cache"),
        )
        self.env = env

    def pip_install(self, line: str) -> list[dict[str, object]]:
        """Run a README `pip install ...` line with this venv's pip; the installed items from pip's report."""
        words = shlex.split(line)
        assert words[:2] == ["pip", "install"], line
        report = self.root / "pip-report.json"
        command = [str(self.bin / "python"), "-m", "pip", *words[1:], "--quiet", "--report", str(report)]
        done = subprocess.run(command, cwd=REPO, env=self.env, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, f"{line}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        return json.loads(report.read_text(encoding="utf-8"))["install"]  # type: ignore[no-any-return]

    def run(self, *args: str, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(args), cwd=cwd, env=self.env, capture_output=True, text=True, timeout=timeout)

    def python(self, code: str, cwd: Path) -> str:
        done = self.run(str(self.bin / "python"), "-c", code, cwd=cwd)
        assert done.returncode == 0, f"{code}\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
        return done.stdout


def readme_example(project: Project) -> str:
    blocks = re.findall(r"```python\n(.*?)```", project.readme.read_text(encoding="utf-8"), flags=re.S)
    assert blocks, f"{project.readme} has no python example"
    return blocks[0]


def check_installed_from_wheelhouse(installed: list[dict[str, object]], name: str) -> None:
    """Ours came from the wheelhouse as wheels (no index, no sdist) and exactly the siblings needed; torch is pinned."""
    ours = {}
    for item in installed:
        meta, info = item["metadata"], item["download_info"]
        assert isinstance(meta, dict) and isinstance(info, dict)
        if meta["name"].startswith("medadapt-"):
            ours[meta["name"]] = info["url"]
        if meta["name"] == "torch":
            assert meta["version"].startswith("2.13.0"), meta["version"]
    assert sorted(ours) == sorted(siblings(name, PROJECTS))
    for dist, url in ours.items():
        assert url.startswith(WHEELHOUSE.as_uri() + "/") and url.endswith(".whl"), (dist, url)


@pytest.mark.parametrize("name", sorted(PROJECTS))
def test_installs_alone_imports_and_runs_its_readme_example(wheelhouse: Path, name: str, tmp_path: Path) -> None:
    project = PROJECTS[name]
    venv = Venv(tmp_path)
    check_installed_from_wheelhouse(venv.pip_install(ROWS[name].from_wheelhouse), name)
    work = tmp_path / "work"
    work.mkdir()
    venv.python(f"import {project.module}", cwd=work)
    if name == "medadapt-decoding":  # the compiled kernel came with the wheel (not the numpy fallback)
        backends = venv.python("import medadapt.decoding as d; print(*d.backends())", cwd=work).split()
        assert "cpu" in backends, backends
        if shutil.which("nvcc") and os.environ.get("MEDADAPT_DECODING_CUDA", "AUTO") != "OFF":
            assert "cuda" in backends, backends  # built where nvcc works: the CUDA kernel is compiled in
    if name in GIVEN:
        venv.python(GIVEN[name], cwd=work)
    (work / "readme_example.py").write_text(readme_example(project), encoding="utf-8")
    done = venv.run(str(venv.bin / "python"), "readme_example.py", cwd=work)
    assert done.returncode == 0, f"{project.readme}\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    assert done.stdout.strip(), "the README example prints its result"
    if name == "medadapt-study":
        check_study_cli(venv, work)


def check_study_cli(venv: Venv, work: Path) -> None:
    """The CLI from the wheel: the demo refuses in one line without its extra, runs --tiny, and the extra installs."""
    medadapt = str(venv.bin / "medadapt")
    refused = venv.run(medadapt, "demo", "--out", "runs/demo", cwd=work)
    assert refused.returncode == 2, refused.stderr[-3000:]
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr[-3000:]
    assert "pip install 'medadapt-study[demo]'" in refused.stderr
    tiny = venv.run(medadapt, "demo", "--tiny", "--out", "runs/tiny", "--cache-dir", "cache", cwd=work)
    assert tiny.returncode == 0, tiny.stderr[-5000:]
    assert (work / "runs" / "tiny" / "report" / "report.html").is_file()
    venv.pip_install(extra_line("medadapt-study", "demo"))
    venv.python("import gguf; from medadapt.study.demo import require_demo_extra; require_demo_extra()", cwd=work)


def test_clone_line_resolves_every_sibling_from_its_folder(tmp_path: Path) -> None:
    """The study's clone line (it names all six folders) resolves with no index holding any of ours (a dry run)."""
    venv = Venv(tmp_path)
    words = shlex.split(ROWS["medadapt-study"].from_clone)
    report = tmp_path / "resolve.json"
    command = [str(venv.bin / "python"), "-m", "pip", *words[1:], "--dry-run", "--quiet", "--report", str(report)]
    done = subprocess.run(command, cwd=REPO, env=venv.env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    resolved = {
        item["metadata"]["name"]: item["download_info"]["url"]
        for item in json.loads(report.read_text(encoding="utf-8"))["install"]
        if item["metadata"]["name"].startswith("medadapt-")
    }
    assert resolved == {name: (REPO / project.folder).as_uri() for name, project in PROJECTS.items()}
