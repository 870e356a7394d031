"""The one-page offline HTML report: inline CSS, figures embedded as base64, no script, no network."""

from __future__ import annotations

import base64
import math
from importlib.resources import files
from pathlib import Path
from typing import Any

from medadapt.study.report.summary import overlong_text
from medadapt.study.run_dir import REPORT_HTML
from medadapt.study.shard_plan import Variant
from medadapt.study.store_files import write_text_atomic


def _pct(value: float | None) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.1f}%"


def _signed(value: float | None) -> str:
    if value is None:
        return "–"
    text = f"{100 * value:+.1f}"
    return "0.0" if text in ("+0.0", "-0.0") else text


def _pval(value: float | None) -> str:
    return "–" if value is None else (f"{value:.3f}" if value >= 0.001 else "<0.001")


def write_html(report: dict[str, Any], figures: list[dict[str, str]], out: Path) -> Path:
    """Render report.html next to the figures it embeds."""
    from jinja2 import Environment, StrictUndefined, select_autoescape

    env = Environment(autoescape=select_autoescape(default=True), undefined=StrictUndefined, keep_trailing_newline=True)
    template = env.from_string(
        files("medadapt.study.report").joinpath("templates/report.html.j2").read_text(encoding="utf-8")
    )
    embedded = [
        {**f, "data": base64.b64encode((out / f["file"]).read_bytes()).decode("ascii")} for f in figures
    ]
    variants = []
    for variant in Variant:
        rows = [r for r in report["rates"] if r["variant"] == variant]
        if rows:
            variants.append((variant.value, rows))
    rules = sorted({c["rule"] for c in report["comparisons"]})
    from markupsafe import Markup

    from medadapt.study.report.headline_files import headline_html

    html = template.render(
        headline=Markup(headline_html(report)),  # rendered by an autoescaping template of its own
        r=report,
        figures=embedded,
        rates_by_variant=variants,
        rule="; ".join(rules) if rules else "no comparison yet",
        conf=f"{report['statistics']['confidence']:.0%}",
        pct=_pct,
        signed=_signed,
        pval=_pval,
        overlong=overlong_text,
    )
    path = out / REPORT_HTML
    write_text_atomic(path, html)
    return path
