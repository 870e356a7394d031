"""The one-screen summary printed at the end of a study: overall verdict rates, the closest calls, the report path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _points(value: float | None) -> str:
    if value is None:
        return "–"
    text = f"{100 * value:+.1f}"
    return "0.0" if text in ("+0.0", "-0.0") else text


def overlong_text(row: dict[str, Any]) -> str:
    """Too-long prompts of a comparison, general/medical, and how many items the policy left out: `2/5 (−5)`."""
    general, medical = row.get("too_long_general", 0), row.get("too_long_medical", 0)
    excluded = row.get("excluded", 0)
    return f"{general}/{medical}" + (f" (−{excluded})" if excluded else "")


def print_summary(report: dict[str, Any], html: Path, console: Console) -> None:
    """Overall win/tie/loss per variant and each cell's verdict, compact enough for one screen."""
    # Names come from the user's config: escaped, or `gen[/x]` would be read as rich markup (and fail).
    pairs = "; ".join(f"{p['medical']} vs {p['general']}" for p in report["pairs"])
    rates = Table(title=escape(f"{report['study']}: {pairs}"), show_lines=False)
    for column in ("variant", "cells", "win", "tie", "loss"):
        rates.add_column(column)
    for row in report["rates"]:
        if row["by"] != "overall":
            continue
        rates.add_row(
            escape(row["variant"]),
            str(row["n"]),
            *(f"{row[v]['count']} ({_pct(row[v]['rate'])})" for v in ("win", "tie", "loss")),
        )
    console.print(rates)
    several_pairs = len(report["pairs"]) > 1
    cells = Table(show_header=True, box=None, pad_edge=False)
    columns = ["variant", *(["pair"] if several_pairs else []), "task", "setting", "decoding", "Δ [CI], points", "verdict", "too long g/m"]
    for column in columns:
        cells.add_column(column, no_wrap=True, overflow="ellipsis", max_width=28)
    shown = report["comparisons"][:20]
    for c in shown:
        colour = {"win": "green", "loss": "red"}.get(c["verdict"], "white")
        pair = [escape(f"{c['medical']} vs {c['general']}")] if several_pairs else []
        cells.add_row(
            escape(c["variant"]),
            *pair,
            escape(c["task"]),
            escape(c["setting"]),
            escape(c["decoding"]),
            f"{_points(c['delta'])} [{_points(c['ci_low'])}, {_points(c['ci_high'])}]",
            f"[{colour}]{c['verdict']}[/{colour}]" + (" [red](partial)[/red]" if c.get("partial") else ""),
            overlong_text(c),
        )
    console.print(cells)
    if len(report["comparisons"]) > len(shown):
        console.print(f"… {len(report['comparisons']) - len(shown)} more cells in the report")
    if any(c.get("too_long_general") or c.get("too_long_medical") for c in report["comparisons"]):
        policy = report.get("overlong_policy", "exclude")
        what = "left out of the comparison for both models" if policy == "exclude" else "counted wrong"
        console.print(f"[yellow]note:[/yellow] prompts longer than a model's context were {what} (overlong: {policy})")
    for note in report["notes"]:
        console.print(f"[yellow]note:[/yellow] {escape(note)}")
    print_integrity(report, console)
    if report.get("multiplicity"):
        console.print(escape(report["multiplicity"]))
    console.print(f"report: {escape(str(html))}")


def print_integrity(report: dict[str, Any], console: Console) -> None:
    """What a partial report lacks (reported only with --allow-partial): one line per problem of the store."""
    integrity = report.get("integrity")
    if not integrity or integrity["complete"]:
        return
    problems = integrity["problems"]
    console.print(f"[bold red]partial report:[/bold red] the store has {len(problems)} problems; "
                  "verdicts of the cells below use only the items both models answered")
    for problem in problems:
        console.print(f"  [red]partial:[/red] {escape(problem['shard'])}: {escape(problem['message'])}")
