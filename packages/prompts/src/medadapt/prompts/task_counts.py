"""Rows per task and split, and the counts the data folders' SOURCE.md files state (for the `tasks` command)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from medadapt.prompts.tasks.loading import load_task, task_folder
from medadapt.prompts.tasks.registry import get_task, list_tasks

# Rows of the source files as stated in ../shared/data/*/SOURCE.md: (task, split) -> rows read from the files.
SOURCE_MD_ROWS: dict[tuple[str, str], int] = {
    ("medqa-usmle", "test"): 1273,
    ("medmcqa", "test"): 4183,
    ("pubmedqa", "val"): 500,
    ("pubmedqa", "test"): 500,
    ("slake", "train"): 9835,
    ("slake", "val"): 2099,
    ("slake", "test"): 2094,
    ("vqa-rad", "train"): 3064,
    ("vqa-rad", "test"): 451,
    ("casi-sense", "train"): 190,
    **{
        (f"mmlu_{subject}", split): rows
        for subject, counts in {
            "anatomy": (5, 14, 135),
            "clinical-knowledge": (5, 29, 265),
            "college-biology": (5, 16, 144),
            "college-medicine": (5, 22, 173),
            "high-school-biology": (5, 34, 310),
            "medical-genetics": (5, 11, 100),
            "nutrition": (5, 33, 306),
            "professional-medicine": (5, 31, 272),
            "virology": (5, 18, 166),
        }.items()
        for split, rows in zip(("train", "val", "test"), counts, strict=True)
    },
}
# Rows after the study's selection where SOURCE.md states them (English closed SLAKE, closed VQA-RAD test).
SOURCE_MD_SELECTED: dict[tuple[str, str], int] = {
    ("slake", "train"): 1943,
    ("slake", "val"): 422,
    ("slake", "test"): 416,
    ("vqa-rad", "test"): 272,
}


@dataclasses.dataclass(frozen=True)
class SplitCount:
    """One row of the table."""

    task: str
    split: str
    n_read: int | None
    n_examples: int | None
    filtered: dict[str, int]
    expected_read: int | None
    note: str = ""

    @property
    def status(self) -> str:
        """'ok' / 'MISMATCH' against SOURCE.md, '-' when SOURCE.md states nothing for it."""
        if self.expected_read is None or self.n_read is None:
            return "-"
        return "ok" if self.n_read == self.expected_read else "MISMATCH"


def count_tasks(
    data_dir: Path, tasks: list[str] | None = None, *, study_compat: bool = False
) -> list[SplitCount]:
    """Load every split of every task whose folder exists under `data_dir`; missing files become notes."""
    rows = []
    for name in tasks or list_tasks():
        spec = get_task(name)
        if tasks is None and task_folder(spec, data_dir) == data_dir:
            continue  # no folder for this task in a data root
        for split in spec.splits:
            expected = SOURCE_MD_ROWS.get((name, split))
            try:
                data = load_task(name, data_dir, split, study_compat=study_compat)
            except FileNotFoundError as err:
                rows.append(SplitCount(name, split, None, None, {}, expected, f"absent: {err}"))
                continue
            rows.append(SplitCount(name, split, data.n_read, len(data.examples), data.filtered, expected))
    return rows
