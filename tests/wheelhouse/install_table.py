"""The README's per-package install table and the distributions' pyproject files, as the packaging tests read them.

The table is the single source of the install lines: the README shows it, the wheelhouse test runs its lines.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
SECTION = "## Installing single packages"


@dataclass(frozen=True)
class Project:
    """One distribution of the monorepo, from its pyproject.toml."""

    name: str
    folder: str  # relative to the repository root, as the install lines name it
    version: str
    requires: tuple[Requirement, ...]
    extras: tuple[str, ...]

    @property
    def module(self) -> str:
        return "medadapt." + self.name.removeprefix("medadapt-")

    @property
    def readme(self) -> Path:
        return REPO / self.folder / "README.md"


@dataclass(frozen=True)
class InstallRow:
    """One row of the README's install table."""

    distribution: str
    from_clone: str
    from_wheelhouse: str
    extras: tuple[str, ...]


def projects() -> dict[str, Project]:
    found = {}
    for path in sorted([*REPO.glob("packages/*/pyproject.toml"), *REPO.glob("apps/*/pyproject.toml")]):
        meta = tomllib.loads(path.read_text(encoding="utf-8"))["project"]
        name = canonicalize_name(meta["name"])
        found[name] = Project(
            name=name,
            folder=path.parent.relative_to(REPO).as_posix(),
            version=meta["version"],
            requires=tuple(Requirement(r) for r in meta.get("dependencies", [])),
            extras=tuple(meta.get("optional-dependencies", {})),
        )
    return found


def siblings(name: str, known: dict[str, Project]) -> set[str]:
    """`name` and every medadapt distribution it needs, directly or through another sibling (no extras)."""
    needed, todo = set(), [name]
    while todo:
        current = todo.pop()
        if current in needed:
            continue
        needed.add(current)
        todo.extend(canonicalize_name(r.name) for r in known[current].requires if canonicalize_name(r.name) in known)
    return needed


def readme_section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    return text[start : end if end != -1 else None]


def _code(cell: str) -> str:
    match = re.fullmatch(r"`([^`]+)`", cell)
    if match is None:
        raise ValueError(f"README install table: expected one `command` in the cell, got {cell!r}")
    return match.group(1)


def install_rows() -> dict[str, InstallRow]:
    rows = {}
    for line in readme_section().splitlines():
        if not line.startswith("| medadapt-"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        name, clone, wheelhouse, extras = cells
        rows[name] = InstallRow(name, _code(clone), _code(wheelhouse), tuple(re.findall(r"`([^`]+)`", extras)))
    return rows


def extra_line(distribution: str, extra: str) -> str:
    """The README's wheelhouse line for one extra (e.g. 'medadapt-study[demo]'), quoted as a shell would need."""
    wanted = f"'{distribution}[{extra}]'"
    for line in re.findall(r"`(pip install [^`]+)`", readme_section()):
        if line.endswith(wanted) and "--find-links" in line:
            return line
    raise LookupError(f"the README's install section has no wheelhouse line for {wanted}")
