"""Whole-file writes of the run directory (plans, manifest, report) and the repairs a resumed run makes: a kill can
leave a temporary file or a damaged JSON file behind, never a half-written result that is read as data."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

log = logging.getLogger("medadapt.study")

TMP_SUFFIX = ".tmp"
PLAN_KEYS = ("entries", "n_test")
ENTRY_KEYS = ("key", "role", "setting", "decoding", "choice_label", "candidates")


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write through a temporary file in the same folder and a rename; the temporary file is removed on any error."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        Path(name).replace(path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    """UTF-8 text, written atomically."""
    write_bytes_atomic(path, text.encode("utf-8"))


def is_temp_file(path: Path) -> bool:
    """A temporary file of an atomic write: ours (`.<name>.<random>.tmp`) or an older one (`.<name>.tmp-<pid>`)."""
    name = path.name
    return name.startswith(".") and (name.endswith(TMP_SUFFIX) or ".tmp-" in name)


def sweep_temp_files(folders: Iterable[Path]) -> list[Path]:
    """Remove temporary files a killed process left in these folders (not recursive); return what was removed."""
    removed = []
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if path.is_file() and is_temp_file(path):
                path.unlink()
                removed.append(path)
    if removed:
        log.info("removed %d stale temporary files: %s", len(removed), ", ".join(p.name for p in removed))
    return removed


def load_plan(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """A shard plan and None, or None and what is wrong with the file (truncated, not JSON, not a plan)."""
    try:
        plan = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        return None, "is not UTF-8 text"
    except json.JSONDecodeError as exc:
        return None, f"is truncated or not JSON (line {exc.lineno}: {exc.msg})"
    if not isinstance(plan, dict) or any(k not in plan for k in PLAN_KEYS) or not isinstance(plan["entries"], list):
        return None, "is not a shard plan (no entries / n_test)"
    if not isinstance(plan["n_test"], int) or not all(
        isinstance(e, dict) and all(k in e for k in ENTRY_KEYS) for e in plan["entries"]
    ):
        return None, "is not a shard plan (a bad n_test or an entry without key, role, setting or decoding)"
    return plan, None
