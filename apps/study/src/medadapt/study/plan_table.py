"""The printed cost plan: one row per model × task × phase, totals per phase, exhaustive beside a race's best case."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from medadapt.study.config import StudyConfig

PHASES = ("selection", "test", "fine-tuning")


def _hours(value: float | None) -> str:
    return "" if value is None else f"{value:,.2f}"


def print_plan(rows: Sequence[dict[str, Any]], config: StudyConfig, tokens_per_second: float | None, console: Console) -> None:
    """Per-row table, then totals per phase; hours only when a throughput is known."""
    table = Table(title=f"cost plan of {escape(config.name)}: prompts and tokens to score")
    for column in ("model", "task", "phase", "prompts", "tokens", "racing ≥ prompts", "hours", "racing ≥ hours"):
        text = column in ("model", "task", "phase")
        # Names fold onto more lines in a narrow console (80 columns when piped) instead of being cut to "smollm…".
        table.add_column(column, justify="left" if text else "right", overflow="fold" if text else "ellipsis")
    for row in rows:
        table.add_row(
            escape(row["model"]), row["task"], row["phase"], f"{row['prompts']:,}",
            f"{row['tokens']:,}" + ("" if row["tokens_exact"] else " ≈"), f"{row['racing_prompts']:,}",
            _hours(row.get("hours")), _hours(row.get("racing_hours")),
        )
    console.print(table)
    totals: dict[str, list[float]] = defaultdict(lambda: [0, 0, 0, 0])
    for row in rows:
        for phase in (row["phase"], "all"):
            total = totals[phase]
            total[0] += row["prompts"]
            total[1] += row["tokens"]
            total[2] += row["racing_prompts"]
            total[3] += row["racing_tokens"]
    for phase in (*PHASES, "all"):
        if phase not in totals:
            continue
        prompts, tokens, racing_prompts, racing_tokens = totals[phase]
        line = f"{phase}: {prompts:,.0f} prompts, {tokens:,.0f} tokens (a race: ≥ {racing_prompts:,.0f} prompts)"
        if tokens_per_second:
            line += f"; {tokens / tokens_per_second / 3600:,.1f} h at {tokens_per_second:,.0f} tokens/s"
            line += f" (a race: ≥ {racing_tokens / tokens_per_second / 3600:,.1f} h)"
        console.print(line)
    if any(not row["tokens_exact"] for row in rows):
        console.print("≈: no local tokenizer for that model; tokens estimated as characters / 4")
