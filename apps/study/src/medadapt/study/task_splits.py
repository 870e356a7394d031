"""The splits a study uses for one task (few-shot pool, validation subset, test items), as plain data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class TaskSplits:
    """Examples of one task, ready for a study."""

    task: str
    train: list[Any]
    val: list[Any]
    test: list[Any]
    carved: list[str] = field(default_factory=list)
    filtered: dict[str, int] = field(default_factory=dict)

