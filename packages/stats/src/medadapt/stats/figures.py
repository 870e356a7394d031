"""Figures for reports: forest plot of Δaccuracy by cell, win/tie/loss bars, reliability diagram.

Figures are built as `matplotlib.figure.Figure` on an Agg canvas: no pyplot, no global backend, no windows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from medadapt.stats.bootstrap import PairedResult
from medadapt.stats.calibration import ReliabilityData
from medadapt.stats.family import FamilyResult
from medadapt.stats.rates import WinTieLoss
from medadapt.stats.verdicts import VERDICTS

if TYPE_CHECKING:
    from matplotlib.figure import Figure

VERDICT_COLOURS = {"win": "#1b9e77", "tie": "#7f7f7f", "loss": "#d95f02"}


def _new_figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _rows(
    results: FamilyResult | Mapping[str, PairedResult] | Sequence[tuple[str, PairedResult]],
) -> list[tuple[str, PairedResult, str]]:
    if isinstance(results, FamilyResult):
        return [(c.name, c.result, c.verdict) for c in results.cells]
    items = results.items() if isinstance(results, Mapping) else results
    return [(str(name), r, r.verdict) for name, r in items]


def forest_plot(
    results: FamilyResult | Mapping[str, PairedResult] | Sequence[tuple[str, PairedResult]],
    title: str | None = None,
    label_a: str = "a",
    label_b: str = "b",
) -> Figure:
    """Δaccuracy with its interval per cell, one row each, coloured by verdict (family verdict if given one)."""
    rows = _rows(results)
    if not rows:
        raise ValueError("results is empty: nothing to plot")
    # Long cell names take width from the axes; a single row still needs room for title, ticks and x label.
    longest = max(len(name) for name, _, _ in rows)
    figure = _new_figure(max(7.0, 4.0 + 0.075 * longest), max(2.5, 1.0 + 0.28 * len(rows)))
    axes = figure.add_subplot()
    y = np.arange(len(rows))[::-1]
    for position, (_, r, verdict) in zip(y, rows, strict=True):
        colour = VERDICT_COLOURS[verdict]
        axes.plot([r.ci_low, r.ci_high], [position, position], color=colour, linewidth=2)
        axes.plot([r.delta], [position], marker="o", color=colour)
    axes.axvline(0.0, color="black", linewidth=0.8)
    axes.set_yticks(y, [name for name, _, _ in rows])
    confidence = rows[0][1].confidence
    axes.set_xlabel(f"Δaccuracy ({label_a} − {label_b}) with {confidence:.0%} CI")
    for verdict in VERDICTS:
        axes.plot([], [], color=VERDICT_COLOURS[verdict], linewidth=2, label=verdict)
    axes.legend(loc="best", fontsize="small")
    if title:
        axes.set_title(title)
    return figure


def verdict_bars(rates: WinTieLoss | Mapping[str, WinTieLoss], title: str | None = None) -> Figure:
    """Grouped bars of win / tie / loss rates with their intervals (one group per entry of `rates`)."""
    groups = {"all cells": rates} if isinstance(rates, WinTieLoss) else dict(rates)
    if not groups:
        raise ValueError("rates is empty: nothing to plot")
    figure = _new_figure(max(4.0, 1.6 * len(groups) + 2.0), 3.5)
    axes = figure.add_subplot()
    x = np.arange(len(groups))
    width = 0.8 / len(VERDICTS)
    for k, verdict in enumerate(VERDICTS):
        values = np.array([g.rates[verdict] for g in groups.values()])
        # An interval bound can miss a rate of exactly 0 or 1 by one rounding step; matplotlib rejects negatives.
        low = np.clip(values - np.array([g.intervals[verdict][0] for g in groups.values()]), 0.0, None)
        high = np.clip(np.array([g.intervals[verdict][1] for g in groups.values()]) - values, 0.0, None)
        axes.bar(
            x + (k - 1) * width,
            values,
            width,
            yerr=[low, high],
            capsize=3,
            color=VERDICT_COLOURS[verdict],
            label=verdict,
        )
    axes.set_xticks(x, [f"{name}\n(n={g.n})" for name, g in groups.items()])
    axes.set_ylim(0.0, 1.0)
    axes.set_ylabel("share of cells")
    axes.legend(fontsize="small")
    if title:
        axes.set_title(title)
    return figure


def reliability_diagram(data: ReliabilityData, title: str | None = None) -> Figure:
    """Accuracy against mean confidence per bin, with the diagonal of perfect calibration and the ECE."""
    figure = _new_figure(4.0, 4.0)
    axes = figure.add_subplot()
    filled = data.counts > 0
    axes.plot([0, 1], [0, 1], color="black", linewidth=0.8, linestyle="--")
    axes.plot(data.mean_confidence[filled], data.accuracy[filled], marker="o")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1)
    axes.set_xlabel("mean top-label confidence")
    axes.set_ylabel("accuracy")
    axes.set_title(title or f"ECE {data.ece:.3f} ({data.binning})", fontsize="small")
    return figure
