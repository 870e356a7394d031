"""Figures of the report, drawn by medadapt.stats: a forest plot of Δaccuracy and win/tie/loss bars per variant."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# PNG metadata without software version or date, so the same numbers give the same bytes.
_PNG_METADATA = {"Software": None}


def plot_text(text: str) -> str:
    """A label drawn as written: matplotlib reads text between two `$` as mathtext (and fails on bad TeX)."""
    return text.replace("$", r"\$")


def _save(figure: Any, path: Path) -> None:
    """Savefig into memory, then one atomic write: a kill never leaves half a PNG or a stray temporary file."""
    import io

    from medadapt.study.store_files import write_bytes_atomic

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, metadata=_PNG_METADATA)
    write_bytes_atomic(path, buffer.getvalue())


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text).strip("-")


def _enclosing(rates: Any) -> Any:
    """The same rates with each interval widened to contain its rate: Wilson bounds can miss a rate of exactly 0
    or 1 by one ulp, which makes matplotlib refuse the (negative) error bar."""
    import dataclasses

    intervals = {
        v: (min(low, rates.rates[v]), max(high, rates.rates[v])) for v, (low, high) in rates.intervals.items()
    }
    return dataclasses.replace(rates, intervals=intervals)


def write_figures(families: dict[str, Any], per_pair: dict[str, dict[str, Any]], out: Path) -> list[dict[str, str]]:
    """One forest plot and one verdict bar chart per variant; returns [{title, file, kind}] in display order."""
    from medadapt.stats import forest_plot, verdict_bars

    figures = []
    for variant, family in families.items():
        figure = forest_plot(
            family, title=f"Δaccuracy, {variant}", label_a="medical", label_b="general"
        )
        name = f"forest-{_slug(variant)}.png"
        _save(figure, out / name)
        figures.append({"title": f"Forest plot — {variant}", "file": name, "kind": "forest"})
        bars = {plot_text(group): _enclosing(rates) for group, rates in per_pair[variant].items()}
        figure = verdict_bars(bars, title=f"Medical model: win / tie / loss, {variant}")
        name = f"verdicts-{_slug(variant)}.png"
        _save(figure, out / name)
        figures.append({"title": f"Verdicts — {variant}", "file": name, "kind": "bars"})
    return figures
