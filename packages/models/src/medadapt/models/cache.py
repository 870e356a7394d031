"""Where materialised models live, and how a directory is published atomically into that place."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

MARKER_NAME = "medadapt-build.json"


def default_cache_dir() -> Path:
    """The user cache for medadapt: $MEDADAPT_CACHE, else $XDG_CACHE_HOME/medadapt, else ~/.cache/medadapt."""
    explicit = os.environ.get("MEDADAPT_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "medadapt"


def read_marker(directory: Path) -> dict[str, Any] | None:
    """The build record of a directory we created, or None when it has none (or it is unreadable)."""
    marker = directory / MARKER_NAME
    try:
        return json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def build_once(out_dir: Path, recipe: dict[str, Any], build: Callable[[Path], None]) -> Path:
    """Build `out_dir` with `build(tmp_dir)` unless it already holds the same `recipe`; publish by rename.

    A directory that exists without our marker is never overwritten (it may be the user's); one with a
    marker for another recipe is replaced. Concurrent builders race harmlessly: the first rename wins.
    """
    out_dir = Path(out_dir).expanduser().resolve()
    existing = read_marker(out_dir)
    if existing == recipe:
        return out_dir
    if out_dir.exists() and existing is None and any(out_dir.iterdir()):
        raise FileExistsError(
            f"{out_dir} exists, is not empty and was not built by medadapt (no {MARKER_NAME}); "
            "pass an empty or new directory"
        )
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        build(tmp_dir)
        (tmp_dir / MARKER_NAME).write_text(json.dumps(recipe, sort_keys=True, indent=1), encoding="utf-8")
        if out_dir.exists():
            # An empty directory or one of ours with another recipe: move it aside, then swap in.
            stale = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
            with contextlib.suppress(OSError):
                out_dir.rename(stale / "old")
            shutil.rmtree(stale, ignore_errors=True)
        try:
            tmp_dir.rename(out_dir)
        except OSError:
            # Another process published first; accept its result when it is the same recipe.
            if read_marker(out_dir) != recipe:
                raise
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return out_dir
