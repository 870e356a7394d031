"""What a loader returns (`TaskData`), the error it raises for a malformed row (`DataFormatError`), and the error
for a split the data on disk does not have (`MissingSplitError`)."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Hashable, Iterable
from pathlib import Path

from medadapt.prompts.example import QAExample


class DataFormatError(ValueError):
    """A row of a dataset file is malformed; names the file, the line (or row) and the field."""

    def __init__(self, path: Path | str, line: int | None, field: str | None, problem: str) -> None:
        self.path = str(path)
        self.line = line
        self.field = field
        self.problem = problem
        where = self.path if line is None else f"{self.path}:{line}"
        what = "" if field is None else f" field {field!r}"
        super().__init__(f"{where}:{what} {problem}")


class MissingSplitError(FileNotFoundError):
    """The data on disk has no file for this split (MedQA's release ships its test file only, for instance).

    A caller may carve such a split from another one; every other loading error (a malformed file, a file that
    cannot be decoded) must stop the run. Deciding by exception type, never by message text, keeps the two apart.
    """


def refuse_duplicate_ids(
    path: Path | str, ids: Iterable[tuple[int | None, Hashable]], field: str = "id"
) -> None:
    """Raise DataFormatError at the first item id seen twice, naming both lines (results are keyed by id, so a
    repeated id would silently score one item instead of two)."""
    first_line: dict[Hashable, int | None] = {}
    for line, item_id in ids:
        if item_id in first_line:
            earlier = first_line[item_id]
            where = f" (first at line {earlier})" if earlier is not None else ""
            raise DataFormatError(path, line, field, f"duplicate item id {item_id!r}{where}")
        first_line[item_id] = line


@dataclasses.dataclass
class TaskData:
    """Examples of one split of one task, with every deliberate filtering counted by reason."""

    task: str
    split: str
    examples: list[QAExample]
    filtered: dict[str, int] = dataclasses.field(default_factory=dict)
    n_read: int = 0
    sources: tuple[str, ...] = ()
    layout: str = "original"

    def __len__(self) -> int:
        return len(self.examples)


class FilterCounter:
    """Counts rows left out on purpose, by reason, so no row disappears silently."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()

    def drop(self, reason: str, n: int = 1) -> None:
        """Record `n` rows left out for `reason`."""
        if n:
            self._counts[reason] += n

    def as_dict(self) -> dict[str, int]:
        """Reason -> count, in first-seen order."""
        return dict(self._counts)
