"""Figures of the report (drawn by medadapt.stats): a forest plot of Δaccuracy and win/tie/loss bars per variant."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# PNG metadata without a creation date or version, so the same numbers give the same bytes.
_PNG_METADATA = {"Software": None}


def _save(figure: Any, path: Path) -> None:
    import matplotlib.pyplot as plt

    figure.savefig(path, dpi=110, bbox_inches="tight", metadata=_PNG_METADATA)
    plt.close(figure)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text).strip("-")


def write_figures(report: dict[str, Any], out: Path) -> list[dict[str, str]]:
    """One forest plot and one verdict bar chart per variant; returns [{title, file}] in display order."""
    import matplotlib

    matplotlib.use("Agg")
    from medadapt.stats import forest_plot, verdict_bars

    figures = []
    variants = sorted({r["variant"] for r in report["comparisons"]}, key=["own prompts", "medopt", "fine-tuned"].index)
    for variant in variants:
        rows = [r for r in report["comparisons"] if r["variant"] == variant]
        labels = [f"{r['medical']} vs {r['general']} · {r['task']} · {r['setting']} · {r['decoding']}" for r in rows]
        figure = forest_plot(
            labels=labels,
            delta=[r["delta"] for r in rows],
            ci_low=[r["ci_low"] for r in rows],
            ci_high=[r["ci_high"] for r in rows],
            verdicts=[r["verdict"] for r in rows],
            title=f"Δaccuracy (medical − general), {variant}",
        )
        name = f"forest-{_slug(variant)}.png"
        _save(figure, out / name)
        figures.append({"title": f"Forest plot — {variant}", "file": name, "kind": "forest"})
        groups = [r for r in report["rates"] if r["variant"] == variant and r["by"] in ("overall", "pair")]
        figure = verdict_bars(
            labels=[g["group"] for g in groups],
            wins=[g["win"]["count"] for g in groups],
            ties=[g["tie"]["count"] for g in groups],
            losses=[g["loss"]["count"] for g in groups],
            title=f"Win / tie / loss of the medical model, {variant}",
        )
        name = f"verdicts-{_slug(variant)}.png"
        _save(figure, out / name)
        figures.append({"title": f"Verdicts — {variant}", "file": name, "kind": "bars"})
    return figures
