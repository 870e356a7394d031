"""Figures return matplotlib Figures on an Agg canvas and render to PNG; no pyplot involved."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from medadapt.stats import (
    compare_family,
    forest_plot,
    paired_bootstrap,
    reliability,
    reliability_diagram,
    verdict_bars,
    win_tie_loss,
)
from medadapt.stats.figures import VERDICT_COLOURS


def test_forest_plot_colours_rows_by_verdict(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    cells = {
        "win": ((rng.random(400) < 0.8).astype(int), (rng.random(400) < 0.5).astype(int)),
        "loss": ((rng.random(400) < 0.5).astype(int), (rng.random(400) < 0.8).astype(int)),
    }
    family = compare_family(cells, n_resamples=500)
    figure = forest_plot(family, title="demo")
    assert isinstance(figure, Figure)
    colours = {line.get_color() for line in figure.axes[0].get_lines()}
    assert {VERDICT_COLOURS["win"], VERDICT_COLOURS["loss"]} <= colours
    figure.savefig(tmp_path / "forest.png")
    assert (tmp_path / "forest.png").stat().st_size > 1000


def test_verdict_bars_and_reliability_diagram(tmp_path: Path) -> None:
    rates = {"3-shot": win_tie_loss(["win", "tie", "loss", "loss"]), "0-shot": win_tie_loss(["tie", "tie"])}
    bars = verdict_bars(rates)
    assert isinstance(bars, Figure) and len(bars.axes[0].patches) == 6
    bars.savefig(tmp_path / "bars.png")
    rng = np.random.default_rng(1)
    diagram = reliability_diagram(reliability(rng.dirichlet(np.ones(3), 50), rng.integers(0, 3, 50)))
    diagram.savefig(tmp_path / "reliability.png")
    assert (tmp_path / "reliability.png").exists()


def test_one_row_forest_plot_with_a_long_name_keeps_its_layout() -> None:
    """A report's one-cell family with a long cell name must not collapse the axes (a warning, an error here)."""
    import io

    result = paired_bootstrap([1, 0, 1, 1] * 3, [1, 0, 0, 1] * 3, n_resamples=200)
    name = "fine-tuned · smollm2-135m-medical vs smollm2-135m-instruct · mmlu_anatomy · greedy · a long tail"
    figure = forest_plot({name: result}, title="Δaccuracy, fine-tuned", label_a="medical", label_b="general")
    figure.savefig(io.BytesIO(), format="png", dpi=100)
    assert figure.get_size_inches()[0] > 7.0
