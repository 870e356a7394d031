"""Append-only JSON Lines files that survive a kill: whole batches written and flushed (so a killed process loses
nothing written), fsynced at most once a second and on close (so a machine crash loses at most the last second);
torn tails cut."""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from medadapt.study.errors import StudyError
from medadapt.study.run_key import canonical_json


def repair_torn_tail(path: Path) -> int:
    """Cut an unterminated last line (a write killed half-way); return the number of bytes removed."""
    if not path.exists():
        return 0
    size = path.stat().st_size
    if size == 0:
        return 0
    with path.open("rb+") as fh:
        # Walk back from the end to the last newline; a complete line always ends with one.
        block = 1 << 16
        end = size
        while end > 0:
            start = max(0, end - block)
            fh.seek(start)
            chunk = fh.read(end - start)
            index = chunk.rfind(b"\n")
            if index >= 0:
                keep = start + index + 1
                break
            end = start
        else:
            keep = 0
        if keep < size:
            fh.truncate(keep)
            fh.flush()
            os.fsync(fh.fileno())
        return size - keep


def read_jsonl(path: Path, required: Sequence[str] = ()) -> Iterator[dict[str, Any]]:
    """Complete records of a JSON Lines file; an unterminated last line (torn write) is ignored. A line that is
    not JSON, not an object or lacks a `required` key is refused with the file and line, never read as data."""
    if not path.exists():
        return
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if not raw.endswith(b"\n"):
                return
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "not UTF-8"
                raise StudyError(f"{path}:{number}: corrupt record ({reason}); the run store was edited by hand?") from None
            missing = [k for k in required if k not in record] if isinstance(record, dict) else list(required)
            if not isinstance(record, dict) or missing:
                what = f"lacks {', '.join(map(repr, missing))}" if isinstance(record, dict) else "is not a JSON object"
                raise StudyError(f"{path}:{number}: not a store record (it {what}); the run store was edited by hand?")
            yield record


class JsonlAppender:
    """An exclusive appender: repairs the tail on open, then appends whole batches in one write each.

    Every batch is flushed to the OS at once, so a killed process never loses a written record. fsync (which
    protects against a machine crash, not a kill) costs about a millisecond, as much as scoring a small batch, so
    it runs when `sync_interval` seconds have passed since the last one and on close.
    """

    def __init__(self, path: Path, sync_interval: float = 1.0) -> None:
        self.path = Path(path)
        self.sync_interval = sync_interval
        self._fh: Any = None
        self._synced_at = 0.0
        self._unsynced = False

    def __enter__(self) -> JsonlAppender:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = self.path.open("ab")
        try:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._fh.close()
            raise StudyError(f"{self.path} is being written by another process") from None
        repair_torn_tail(self.path)
        self._synced_at = time.monotonic()
        return self

    def append(self, records: Sequence[dict[str, Any]]) -> None:
        """Write every record as one line in a single write and flush it; fsync when the interval has passed."""
        if not records:
            return
        payload = "".join(canonical_json(r) + "\n" for r in records).encode("utf-8")
        self._fh.write(payload)
        self._fh.flush()
        self._unsynced = True
        if time.monotonic() - self._synced_at >= self.sync_interval:
            self.sync()

    def sync(self) -> None:
        """fsync what has been appended since the last sync."""
        if self._unsynced:
            os.fsync(self._fh.fileno())
            self._unsynced = False
        self._synced_at = time.monotonic()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            self.sync()
        finally:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            self._fh.close()
