"""`python -m medadapt.prompts tasks --data DIR`: rows per task and split, checked against SOURCE.md counts."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from medadapt.prompts.task_counts import SOURCE_MD_SELECTED, count_tasks


def _tasks_command(args: argparse.Namespace) -> int:
    rows = count_tasks(Path(args.data), args.task or None, study_compat=args.study_compat)
    header = f"{'task':<36} {'split':<6} {'read':>6} {'SOURCE.md':>9} {'check':<8} {'examples':>8}  filtered"
    print(header)
    print("-" * len(header))
    mismatches = 0
    for row in rows:
        if row.n_read is None:
            print(
                f"{row.task:<36} {row.split:<6} {'-':>6} {row.expected_read or '-':>9} {'-':<8} {'-':>8}  "
                f"{row.note.split(':', 1)[0]}"
            )
            continue
        mismatches += row.status == "MISMATCH"
        selected = SOURCE_MD_SELECTED.get((row.task, row.split))
        extra = f" (SOURCE.md selection: {selected})" if selected is not None else ""
        filtered = ", ".join(f"{reason}: {n}" for reason, n in row.filtered.items()) or "-"
        print(
            f"{row.task:<36} {row.split:<6} {row.n_read:>6} {row.expected_read or '-':>9} {row.status:<8} "
            f"{row.n_examples:>8}  {filtered}{extra}"
        )
    print("\nread = rows in the source files for that split (derived splits: the file they are carved from).")
    return 1 if mismatches else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m medadapt.prompts`."""
    parser = argparse.ArgumentParser(prog="python -m medadapt.prompts")
    commands = parser.add_subparsers(dest="command", required=True)
    tasks = commands.add_parser("tasks", help="rows per task and split in a data folder")
    tasks.add_argument("--data", required=True, help="data root (e.g. ../shared/data) or one task's folder")
    tasks.add_argument("--task", action="append", help="only this task (repeatable)")
    tasks.add_argument("--study-compat", action="store_true", help="the study's splits and options")
    args = parser.parse_args(argv)
    if args.command == "tasks":
        return _tasks_command(args)
    return 2  # pragma: no cover - argparse enforces the choices


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
