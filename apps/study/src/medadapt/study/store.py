"""The run store: units, predictions and rendered prompts of a study, sharded per (model, task) so executors never
share a file; a run can move between the local and the Ray executor and resume."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from medadapt.study.jsonl import JsonlAppender, read_jsonl

STORE_DIR = "store"
UNITS_FILE = "units.jsonl"
PREDICTIONS_FILE = "predictions.jsonl"
PROMPTS_FILE = "prompts.jsonl"


def shard_name(model_label: str, task: str) -> str:
    """A file-system-safe folder name for one (model, task) shard."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", f"{model_label}--{task}")


class ShardWriter:
    """Appends one shard's units, prompts and predictions; knows what is already done so nothing is redone."""

    def __init__(self, run_dir: Path, shard: str) -> None:
        self.dir = Path(run_dir) / STORE_DIR / shard
        self._units = JsonlAppender(self.dir / UNITS_FILE)
        self._predictions = JsonlAppender(self.dir / PREDICTIONS_FILE)
        self._prompts = JsonlAppender(self.dir / PROMPTS_FILE)
        self._known_units: set[str] = set()
        self._known_prompts: set[str] = set()
        self._done: dict[str, set[str]] = {}
        self._correct: dict[str, dict[str, bool]] = {}

    def __enter__(self) -> ShardWriter:
        self._units.__enter__()
        self._predictions.__enter__()
        self._prompts.__enter__()
        self._known_units = {r["key"] for r in read_jsonl(self._units.path)}
        self._known_prompts = {r["hash"] for r in read_jsonl(self._prompts.path)}
        for record in read_jsonl(self._predictions.path):
            self._note(record)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for appender in (self._prompts, self._predictions, self._units):
            appender.__exit__(exc_type, exc, tb)

    def done_ids(self, key: str) -> set[str]:
        """Item ids that already have a prediction under this run key."""
        return self._done.get(key, set())

    def add_unit(self, key: str, descriptor: dict[str, Any]) -> None:
        """Record what a run key stands for (once)."""
        if key not in self._known_units:
            self._units.append([{"key": key, "unit": descriptor}])
            self._known_units.add(key)

    def add_batch(self, prompts: Sequence[dict[str, Any]], predictions: Sequence[dict[str, Any]]) -> None:
        """Store new rendered prompts, then the predictions that point at them (prompts first: never dangling)."""
        fresh = []
        for prompt in prompts:
            if prompt["hash"] not in self._known_prompts:
                self._known_prompts.add(prompt["hash"])
                fresh.append(prompt)
        self._prompts.append(fresh)
        new = [p for p in predictions if p["id"] not in self.done_ids(p["key"])]
        self._predictions.append(new)
        for record in new:
            self._note(record)

    def _note(self, record: dict[str, Any]) -> None:
        self._done.setdefault(record["key"], set()).add(record["id"])
        self._correct.setdefault(record["key"], {})[record["id"]] = bool(record["correct"])

    def correctness(self, key: str, ids: Sequence[str]) -> list[bool]:
        """Per-item correctness of a unit over the given items (all must be stored)."""
        correct = self._correct.get(key, {})
        missing = [i for i in ids if i not in correct]
        if missing:
            raise KeyError(f"unit {key[:12]} has no prediction for {len(missing)} items, e.g. {missing[0]!r}")
        return [correct[i] for i in ids]


@dataclass
class StoreView:
    """Everything a study has stored, read back for selection, aggregation and the report."""

    units: dict[str, dict[str, Any]] = field(default_factory=dict)
    predictions: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    prompt_shards: dict[str, Path] = field(default_factory=dict)
    duplicates: int = 0

    def records(self, key: str) -> dict[str, dict[str, Any]]:
        """Predictions of one unit by item id."""
        return self.predictions.get(key, {})


def read_store(run_dir: Path) -> StoreView:
    """Load every shard of a run directory (torn tails are ignored, never read as data)."""
    view = StoreView()
    root = Path(run_dir) / STORE_DIR
    if not root.is_dir():
        return view
    for shard in sorted(p for p in root.iterdir() if p.is_dir()):
        for record in read_jsonl(shard / UNITS_FILE):
            view.units[record["key"]] = record["unit"]
        for record in read_jsonl(shard / PREDICTIONS_FILE):
            by_id = view.predictions.setdefault(record["key"], {})
            if record["id"] in by_id:
                view.duplicates += 1
            by_id.setdefault(record["id"], record)
        view.prompt_shards[shard.name] = shard / PROMPTS_FILE
    return view


def read_prompt(run_dir: Path, prompt_hash: str) -> dict[str, Any] | None:
    """The stored text (and images) of one rendered prompt, for tracing a number back to what the model saw."""
    for path in sorted((Path(run_dir) / STORE_DIR).glob(f"*/{PROMPTS_FILE}")):
        for record in read_jsonl(path):
            if record["hash"] == prompt_hash:
                return record
    return None


PLAN_FILE = "plan.json"


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON through a temporary file and a rename, so a reader sees the old or the new file, never half."""
    import json
    import os

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with tmp.open("w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1, sort_keys=True, ensure_ascii=False)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


def write_shard_plan(run_dir: Path, shard: str, plan: dict[str, Any]) -> None:
    """The resolved plan of one (model, task) shard: which key answers which cell, and the selection evidence."""
    write_json_atomic(Path(run_dir) / STORE_DIR / shard / PLAN_FILE, plan)


def read_shard_plan(run_dir: Path, shard: str) -> dict[str, Any] | None:
    """A shard's plan, or None when its job has not finished."""
    import json

    path = Path(run_dir) / STORE_DIR / shard / PLAN_FILE
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))
