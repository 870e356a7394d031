"""The headline's files: headline.csv, verdict_context.csv and the HTML section report.html embeds."""

from __future__ import annotations

import csv
import math
from importlib.resources import files
from pathlib import Path
from typing import Any

from medadapt.study.run_dir import HEADLINE_CSV, VERDICT_CONTEXT_CSV


def _flat(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key == "paper":
            out["paper"] = "; ".join(
                f"{p['source']}: {p['win']:.3f}/{p['tie']:.3f}/{p['loss']:.3f}" for p in value
            )
        elif isinstance(value, list):
            out[f"{key}_low"], out[f"{key}_high"] = value
        else:
            out[key] = value
    return out


def _write(path: Path, rows: list[dict[str, Any]]) -> None:
    flat = [_flat(r) for r in rows]
    fields: list[str] = []
    for row in flat:
        fields += [k for k in row if k not in fields]
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        for row in flat:
            writer.writerow({k: f"{v:.6g}" if isinstance(v, float) else v for k, v in row.items()})


def write_headline_csv(out: Path, report: dict[str, Any]) -> None:
    """headline.csv and verdict_context.csv beside the other tables."""
    _write(out / HEADLINE_CSV, report["headline"])
    _write(out / VERDICT_CONTEXT_CSV, report["verdict_context"])


def _pct(value: float | None) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.1f}%"


def headline_html(report: dict[str, Any]) -> str:
    """The headline section of report.html (rendered on its own so the main template needs one line for it)."""
    from jinja2 import Environment, StrictUndefined, select_autoescape

    env = Environment(autoescape=select_autoescape(default=True), undefined=StrictUndefined)
    template = env.from_string(
        files("medadapt.study.report").joinpath("templates/headline.html.j2").read_text(encoding="utf-8")
    )
    return template.render(r=report, pct=_pct, conf=f"{report['statistics']['confidence']:.0%}")
