"""Per-trial history (one row per epoch) as CSV for spreadsheets and JSON for programs."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["HISTORY_COLUMNS", "read_history", "write_history"]

HISTORY_COLUMNS = ("epoch", "global_step", "learning_rate", "train_loss", "val_loss", "improved")


def write_history(directory: Path, rows: Sequence[dict[str, Any]]) -> None:
    """Write history.csv and history.json in `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "history.json").write_text(json.dumps(list(rows), indent=1), encoding="utf-8")
    with (directory / "history.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=HISTORY_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow(row)


def read_history(directory: Path) -> list[dict[str, Any]]:
    """The rows `write_history` wrote (from history.json)."""
    path = directory / "history.json"
    rows = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(rows, list):
        raise ValueError(f"{path}: expected a JSON list of epoch rows, got {type(rows).__name__}")
    return rows
