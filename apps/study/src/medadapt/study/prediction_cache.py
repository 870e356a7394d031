"""A prediction cache shared by run directories: what a unit (run key) answered for a rendered prompt, so two studies
never score the same unit on the same item twice.

Content-addressed: <root>/<key[:2]>/<key>/<batch digest>.jsonl, one file per computed batch, written to a temporary
file and renamed into place, so concurrent runs never see half a file and never need a lock (two runs that compute
the same batch write the same content under the same name). An entry is found by the run key (which hashes the
model, prompt choice, decoding and scoring code) and by the rendered prompt's hash, the option letters and the gold
answer (so other data under the same task name is never mistaken for a hit). Plain JSON, no pickle.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ENV_VAR = "MEDADAPT_PREDICTION_CACHE"
DISABLED = ("off", "none", "0", "false")
# The model's answer; `key`, `id`, `correct` and `group` belong to the run and are filled in on reuse.
OUTPUT_FIELDS = ("pred", "status", "logprobs", "text")


def default_prediction_cache() -> Path:
    """<medadapt user cache>/predictions (the cache medadapt-models keeps its built models in)."""
    from medadapt.models.cache import default_cache_dir

    return default_cache_dir() / "predictions"


def cache_root(configured: Path | None) -> Path | None:
    """Where the cache lives: the config's `cache_dir`, else $MEDADAPT_PREDICTION_CACHE ('off' disables it), else the
    user cache."""
    if configured is not None:
        return Path(configured)
    explicit = os.environ.get(ENV_VAR)
    if explicit:
        return None if explicit.strip().lower() in DISABLED else Path(explicit).expanduser()
    return default_prediction_cache()


def entry_id(prompt_hash: str, letters: Sequence[str], gold: Any) -> str:
    """What an item's answer depends on besides the run key."""
    payload = json.dumps([prompt_hash, list(letters), gold], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class PredictionCache:
    """The cached outputs of one unit, read once when the unit starts; batches computed later are added to it."""

    def __init__(self, root: Path, key: str) -> None:
        self.dir = Path(root) / key[:2] / key
        self._entries: dict[str, dict[str, Any]] = {}
        if self.dir.is_dir():
            for path in sorted(self.dir.glob("*.jsonl")):
                self._read(path)

    def _read(self, path: Path) -> None:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError:
            return
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a file is renamed in whole, but a user's stray edit must not break a run
            if isinstance(record, dict) and "entry" in record and "output" in record:
                self._entries[record["entry"]] = record["output"]

    def get(self, entry: str) -> dict[str, Any] | None:
        """The stored output of one item, or None."""
        return self._entries.get(entry)

    def put(self, entries: Sequence[str], records: Sequence[dict[str, Any]]) -> None:
        """Publish the outputs of one computed batch atomically (temp file + rename)."""
        lines = []
        for entry, record in zip(entries, records, strict=True):
            output = {k: record[k] for k in OUTPUT_FIELDS if k in record}
            self._entries[entry] = output
            lines.append(json.dumps({"entry": entry, "output": output}, sort_keys=True, ensure_ascii=False))
        name = hashlib.sha256("\n".join(sorted(entries)).encode("utf-8")).hexdigest()[:32] + ".jsonl"
        self.dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=self.dir)
        try:
            # No fsync: a file a machine crash leaves empty or short is read as misses (bad lines are skipped), and
            # a miss only means scoring the batch again.
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write("\n".join(lines) + "\n")
            Path(tmp).replace(self.dir / name)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
