"""The run store: units, predictions and rendered prompts of a study, sharded per (model, task) so executors never
share a file; a run can move between the local and the Ray executor and resume."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from medadapt.study.jsonl import JsonlAppender, read_jsonl
from medadapt.study.run_dir import PREDICTIONS_FILE, PROMPTS_FILE, UNITS_FILE, shard_dir, store_dir

# The keys every reader of the store relies on, checked line by line when a shard is read.
UNIT_KEYS = ("key", "unit")
PREDICTION_KEYS = ("key", "id", "correct", "prompt")
PROMPT_KEYS = ("hash", "text")


class ShardWriter:
    """Appends one shard's units, prompts and predictions; knows what is already done so nothing is redone."""

    def __init__(self, run_dir: Path, shard: str) -> None:
        self.dir = shard_dir(run_dir, shard)
        self._units = JsonlAppender(self.dir / UNITS_FILE)
        self._predictions = JsonlAppender(self.dir / PREDICTIONS_FILE)
        self._prompts = JsonlAppender(self.dir / PROMPTS_FILE)
        self._known_units: set[str] = set()
        self._known_prompts: set[str] = set()
        self._done: dict[str, set[str]] = {}
        self._correct: dict[str, dict[str, bool]] = {}
        self._prompt_of: dict[str, dict[str, str]] = {}

    def __enter__(self) -> ShardWriter:
        self._units.__enter__()
        self._predictions.__enter__()
        self._prompts.__enter__()
        self._known_units = {r["key"] for r in read_jsonl(self._units.path, UNIT_KEYS)}
        self._known_prompts = {r["hash"] for r in read_jsonl(self._prompts.path, PROMPT_KEYS)}
        for record in read_jsonl(self._predictions.path, PREDICTION_KEYS):
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
        self._prompt_of.setdefault(record["key"], {})[record["id"]] = record["prompt"]

    def lacks_prompts(self, key: str, ids: Sequence[str]) -> bool:
        """Whether stored predictions of these items point at prompt texts the shard no longer has (a deleted or
        damaged prompts.jsonl): the resumed unit renders them again instead of leaving the predictions dangling."""
        prompts = self._prompt_of.get(key, {})
        return any(i in prompts and prompts[i] not in self._known_prompts for i in ids)

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
    root = store_dir(run_dir)
    if not root.is_dir():
        return view
    for shard in sorted(p for p in root.iterdir() if p.is_dir()):
        for record in read_jsonl(shard / UNITS_FILE, UNIT_KEYS):
            view.units[record["key"]] = record["unit"]
        for record in read_jsonl(shard / PREDICTIONS_FILE, PREDICTION_KEYS):
            by_id = view.predictions.setdefault(record["key"], {})
            if record["id"] in by_id:
                view.duplicates += 1
            by_id.setdefault(record["id"], record)
        view.prompt_shards[shard.name] = shard / PROMPTS_FILE
    return view


def read_prompt(run_dir: Path, prompt_hash: str) -> dict[str, Any] | None:
    """The stored text (and images) of one rendered prompt, for tracing a number back to what the model saw."""
    for path in sorted(store_dir(run_dir).glob(f"*/{PROMPTS_FILE}")):
        for record in read_jsonl(path, PROMPT_KEYS):
            if record["hash"] == prompt_hash:
                return record
    return None
