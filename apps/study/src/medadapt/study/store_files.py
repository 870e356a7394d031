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


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON through a temporary file and a rename, so a reader sees the old or the new file, never half."""
    write_text_atomic(path, json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
