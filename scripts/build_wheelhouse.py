"""Build a wheel and an sdist of every medadapt distribution into one folder (`hatch run dist:wheelhouse`).

Pure-Python distributions get one py3 wheel each. medadapt-decoding (compiled) gets one wheel per supported CPython
found on this machine, each repaired by auditwheel to a manylinux tag so that it installs where no compiler is;
its CMake build compiles the CUDA kernel when nvcc works (MEDADAPT_DECODING_CUDA=AUTO) and the CPU kernel always.
Each wheel is built from its sdist (`python -m build`), which also proves that the sdist is complete.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PURE = ["packages/prompts", "packages/models", "packages/finetune", "packages/stats", "apps/study"]
COMPILED = "packages/decoding"


def run(command: list[str], **kwargs: object) -> None:
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True, **kwargs)  # type: ignore[call-overload]


def supported_minors(project: Path) -> list[int]:
    """CPython 3 minor versions allowed by the project's requires-python (3.11 up to the newest released)."""
    from packaging.specifiers import SpecifierSet

    spec = SpecifierSet(tomllib.loads((project / "pyproject.toml").read_text())["project"]["requires-python"])
    return [minor for minor in range(8, 15) if f"3.{minor}" in spec]


def interpreters(project: Path) -> list[str]:
    """This interpreter plus every other supported CPython on PATH that has the headers an extension needs."""
    found = [sys.executable]
    for minor in supported_minors(project):
        if minor == sys.version_info.minor:
            continue
        path = shutil.which(f"python3.{minor}")
        if path is None:
            continue
        probe = "import sysconfig, pathlib; print(pathlib.Path(sysconfig.get_path('include'), 'Python.h').is_file())"
        has_headers = subprocess.run([path, "-c", probe], capture_output=True, text=True).stdout.strip() == "True"
        if has_headers:
            found.append(path)
        else:
            print(f"skipping {path}: no Python.h (install its -dev package to build for it)", flush=True)
    return found


def build_python(interpreter: str, scratch: Path) -> str:
    """An interpreter that can run `python -m build`: this one, or a throwaway venv of another CPython."""
    if interpreter == sys.executable:
        return interpreter
    env_dir = scratch / f"build-env-{Path(interpreter).name}"
    run([interpreter, "-m", "venv", str(env_dir)])
    python = str(env_dir / "bin" / "python")
    run([python, "-m", "pip", "install", "--quiet", "build"])
    return python


def build(python: str, project: Path, outdir: Path, *, sdist: bool) -> None:
    """sdist + wheel built from it, or (for the extra interpreters of decoding) the wheel alone."""
    targets = [] if sdist else ["--wheel"]
    run([python, "-m", "build", *targets, "--outdir", str(outdir), str(project)])


def build_compiled(project: Path, wheelhouse: Path, scratch: Path) -> None:
    raw = scratch / "raw"
    for index, interpreter in enumerate(interpreters(project)):
        build(build_python(interpreter, scratch), project, raw, sdist=index == 0)
    for sdist in raw.glob("*.tar.gz"):
        shutil.move(sdist, wheelhouse / sdist.name)
    wheels = sorted(raw.glob("*.whl"))
    if not wheels:
        raise SystemExit(f"{project}: no wheel was built")
    for wheel in wheels:
        run([sys.executable, "-m", "auditwheel", "repair", "--wheel-dir", str(wheelhouse), str(wheel)])
    repaired = sorted(wheelhouse.glob("medadapt_decoding-*.whl"))
    not_manylinux = [w.name for w in repaired if "manylinux" not in w.name]
    if len(repaired) != len(wheels) or not_manylinux:
        raise SystemExit(f"auditwheel did not give every decoding wheel a manylinux tag: {[w.name for w in repaired]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "dist" / "wheelhouse", help="the wheelhouse folder")
    args = parser.parse_args(argv)
    wheelhouse: Path = args.out.resolve()
    if wheelhouse.exists():
        shutil.rmtree(wheelhouse)  # never mix wheels of two builds
    wheelhouse.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="medadapt-wheelhouse-") as tmp:
        for folder in PURE:
            build(sys.executable, REPO / folder, wheelhouse, sdist=True)
        build_compiled(REPO / COMPILED, wheelhouse, Path(tmp))
    print(f"\n{wheelhouse}:")
    for path in sorted(wheelhouse.iterdir()):
        print(f"  {path.name}  ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
