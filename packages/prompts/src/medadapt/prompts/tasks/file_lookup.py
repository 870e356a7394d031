"""Finding a dataset's files inside a data folder, whatever depth the user unpacked them at."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from medadapt.prompts.tasks.task_data import MissingSplitError


def find_file(
    folder: Path, names: Sequence[str], *, accept: Callable[[Path], bool] | None = None
) -> Path | None:
    """The first file called one of `names` under `folder` (shallowest first), or None."""
    for name in names:
        direct = folder / name
        if direct.is_file() and (accept is None or accept(direct)):
            return direct
    matches = [
        p for name in names for p in folder.rglob(name) if p.is_file() and (accept is None or accept(p))
    ]
    if not matches:
        return None
    return min(matches, key=lambda p: (len(p.relative_to(folder).parts), str(p)))


def require_file(folder: Path, names: Sequence[str], what: str, **kwargs: Callable[[Path], bool]) -> Path:
    """Like `find_file`, but a missing file is an error that says what was looked for and where."""
    found = find_file(folder, names, **kwargs)
    if found is None:
        raise FileNotFoundError(f"{what}: none of {list(names)} found under {folder}")
    return found


def require_split_file(
    folder: Path, names: Sequence[str], what: str, **kwargs: Callable[[Path], bool]
) -> Path:
    """The file holding one split; its absence is a MissingSplitError (the data has no such split)."""
    found = find_file(folder, names, **kwargs)
    if found is None:
        raise MissingSplitError(f"{what}: none of {list(names)} found under {folder}")
    return found
