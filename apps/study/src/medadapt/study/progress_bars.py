"""Rich progress for every long step of a study.

A paper-scale study reports thousands of units. Rich re-renders every bar it holds on each `add_task`, so bars
that stay after they finish make reporting cost grow with the square of the grid: a finished bar is printed once
as a line above the live display and dropped from it, which keeps the live part to what is still running.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

Advance = Callable[[str, int, int], None]


def progress_bar(console: Console) -> Progress:
    """The progress display used by every long step."""
    return Progress(
        # Descriptions carry model labels from the user's config: shown as written, never parsed as rich markup.
        TextColumn("{task.description}", style="progress.description", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


def finish_bar(progress: Progress, bar: TaskID) -> None:
    """Print a bar's final line above the live display and drop it from the display."""
    task = next((t for t in progress.tasks if t.id == bar), None)
    if task is None:
        return
    progress.stop_task(bar)
    progress.console.print(progress.make_tasks_table([task]))
    progress.remove_task(bar)


def bar_advance(progress: Progress) -> Advance:
    """A (description, done, total) callback: one bar per description, finished when done reaches total."""
    bars: dict[str, TaskID] = {}

    def advance(description: str, done: int, total: int) -> None:
        if description not in bars:
            bars[description] = progress.add_task(description, total=total)
        progress.update(bars[description], completed=done, total=total)
        if done >= total:
            finish_bar(progress, bars.pop(description))

    return advance
