"""The one-screen summary printed at the end of a study: overall verdict rates, the closest calls, the report path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def print_summary(report: dict[str, Any], html: Path, console: Console) -> None:
    """Overall win/tie/loss per variant and each cell's verdict, compact enough for one screen."""
    rates = Table(title=f"{report['study']}: medical vs general", show_lines=False)
    for column in ("variant", "cells", "win", "tie", "loss"):
        rates.add_column(column)
    for row in report["rates"]:
        if row["by"] != "overall":
            continue
        rates.add_row(
            row["variant"],
            str(row["n"]),
            *(f"{row[v]['count']} ({_pct(row[v]['rate'])})" for v in ("win", "tie", "loss")),
        )
    console.print(rates)
    cells = Table(show_header=True, box=None)
    for column in ("variant", "pair", "task", "setting", "decoding", "Δ", "CI", "verdict"):
        cells.add_column(column)
    shown = report["comparisons"][:20]
    for c in shown:
        colour = {"win": "green", "loss": "red"}.get(c["verdict"], "white")
        cells.add_row(
            c["variant"],
            f"{c['medical']} vs {c['general']}",
            c["task"],
            c["setting"],
            c["decoding"],
            f"{100 * c['delta']:+.1f}",
            f"[{100 * c['ci_low']:+.1f}, {100 * c['ci_high']:+.1f}]",
            f"[{colour}]{c['verdict']}[/{colour}]",
        )
    console.print(cells)
    if len(report["comparisons"]) > len(shown):
        console.print(f"… {len(report['comparisons']) - len(shown)} more cells in the report")
    for note in report["notes"]:
        console.print(f"[yellow]note:[/yellow] {note}")
    console.print(f"report: {html}")
