"""The report: tables, verdicts, rates, prompt sensitivity and figures computed from the store, written to
<run_dir>/report/ (report.json, CSV tables, PNG figures, report.html). Deterministic: same store, same bytes."""

from __future__ import annotations

import csv
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from medadapt.study.aggregate import Cell, StudyResults, collect_results
from medadapt.study.config import StudyConfig
from medadapt.study.store import write_json_atomic

log = logging.getLogger("medadapt.study")

REPORT_DIR = "report"
VARIANTS = ("own prompts", "medopt", "fine-tuned")


def accuracy_interval(correct: int, n: int, confidence: float) -> tuple[float, float]:
    """Wilson score interval of one model's accuracy (statsmodels)."""
    from statsmodels.stats.proportion import proportion_confint

    if n == 0:
        return (math.nan, math.nan)
    low, high = proportion_confint(correct, n, alpha=1 - confidence, method="wilson")
    return float(low), float(high)


def compare_cells(cells: Sequence[Cell], config: StudyConfig) -> list[dict[str, Any]]:
    """Paired bootstrap per cell (medical minus general), corrected p-values within each variant's family."""
    from medadapt.stats import correct_pvalues, paired_bootstrap

    stats = config.statistics
    rows: list[dict[str, Any]] = []
    for cell in cells:
        groups = list(cell.medical_result.groups)
        use_groups = any(g is not None for g in groups)
        result = paired_bootstrap(
            list(cell.medical_result.correct),
            list(cell.general_result.correct),
            n_resamples=stats.n_resamples,
            confidence=stats.confidence,
            method=stats.method,
            seed=stats.seed,
            groups=[g if g is not None else f"item:{i}" for i, g in zip(cell.medical_result.ids, groups, strict=True)]
            if use_groups
            else None,
        )
        rows.append(
            {
                "general": cell.general,
                "medical": cell.medical,
                "task": cell.task,
                "setting": cell.setting,
                "decoding": cell.decoding,
                "variant": cell.variant,
                "n": result.n,
                "accuracy_general": cell.general_result.accuracy,
                "accuracy_medical": cell.medical_result.accuracy,
                "prompt_general": cell.general_result.choice_label,
                "prompt_medical": cell.medical_result.choice_label,
                "delta": result.delta,
                "ci_low": result.ci_low,
                "ci_high": result.ci_high,
                "p_value": result.p_value,
                "ci_verdict": result.verdict,
                "rule": result.rule,
                "key_general": cell.general_result.key,
                "key_medical": cell.medical_result.key,
            }
        )
    alpha = 1 - stats.confidence
    for variant in VARIANTS:
        family = [r for r in rows if r["variant"] == variant]
        if not family:
            continue
        pvalues = [r["p_value"] for r in family]
        if stats.correction == "none":
            corrected = pvalues
        else:
            corrected = [float(p) for p in correct_pvalues(pvalues, method=stats.correction)]
        for row, p in zip(family, corrected, strict=True):
            row["p_corrected"] = p
            row["correction"] = stats.correction
            if stats.rule == "ci":
                row["verdict"] = row["ci_verdict"]
            else:
                row["verdict"] = "tie" if p >= alpha or row["delta"] == 0 else ("win" if row["delta"] > 0 else "loss")
                row["rule"] = f"tie iff {stats.correction}-corrected bootstrap p >= {alpha:.3g}; else sign of Δ"
    return rows


def verdict_rates(rows: Sequence[dict[str, Any]], confidence: float) -> dict[str, Any]:
    """Win/tie/loss counts and rates with Wilson intervals (medadapt.stats.win_tie_loss when it offers them)."""
    counts = {v: sum(1 for r in rows if r["verdict"] == v) for v in ("win", "tie", "loss")}
    n = sum(counts.values())
    out: dict[str, Any] = {"n": n}
    for verdict, count in counts.items():
        low, high = accuracy_interval(count, n, confidence)
        out[verdict] = {"count": count, "rate": count / n if n else math.nan, "ci_low": low, "ci_high": high}
    return out


def rate_tables(rows: Sequence[dict[str, Any]], confidence: float) -> list[dict[str, Any]]:
    """Rates overall and by pair, task, setting and decoding, for each variant."""
    tables = []
    for variant in VARIANTS:
        family = [r for r in rows if r["variant"] == variant]
        if not family:
            continue
        tables.append({"variant": variant, "by": "overall", "group": "all", **verdict_rates(family, confidence)})
        for by, key in (("pair", lambda r: f"{r['medical']} vs {r['general']}"), ("task", lambda r: r["task"]),
                        ("setting", lambda r: r["setting"]), ("decoding", lambda r: r["decoding"])):
            for group in sorted({key(r) for r in family}):
                members = [r for r in family if key(r) == group]
                tables.append({"variant": variant, "by": by, "group": group, **verdict_rates(members, confidence)})
    return tables


def prompt_sensitivity(results: StudyResults) -> list[dict[str, Any]]:
    """Validation accuracy over prompt candidates per model and cell: default vs best, spread."""
    import statistics

    rows = []
    for sel in results.selections:
        accs = [c["val_accuracy"] for c in sel["candidates"]]
        default = [c["val_accuracy"] for c in sel["candidates"] if c["label"].startswith("default")]
        rows.append(
            {
                "model": sel["model"],
                "task": sel["task"],
                "setting": sel["setting"],
                "decoding": sel["decoding"],
                "candidates": len(accs),
                "default": default[0] if default else math.nan,
                "best": max(accs),
                "worst": min(accs),
                "spread": max(accs) - min(accs),
                "std": statistics.pstdev(accs),
                "chosen": sel["chosen"],
            }
        )
    return rows


def accuracy_rows(results: StudyResults, confidence: float) -> list[dict[str, Any]]:
    rows = []
    for acc in results.accuracies:
        low, high = accuracy_interval(acc["correct"], acc["n"], confidence)
        rows.append({**acc, "ci_low": low, "ci_high": high})
    return rows


def _write_csv(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        path.write_text("", encoding="utf-8")
        return
    fields = [k for k in rows[0] if not isinstance(rows[0][k], list | dict)]
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _fmt(row.get(k)) for k in fields})


def _fmt(value: Any) -> Any:
    return f"{value:.6g}" if isinstance(value, float) else value


def _clean(value: Any) -> Any:
    """JSON-safe (NaN → None), floats rounded so the report is byte-stable."""
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else round(value, 10)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def compute_report(run_dir: Path, config: StudyConfig) -> dict[str, Any]:
    """Every number of the report, as data."""
    results = collect_results(run_dir, config)
    confidence = config.statistics.confidence
    rows = compare_cells(results.cells, config)
    return _clean(
        {
            "study": config.name,
            "pairs": [{"general": p.general.label, "medical": p.medical.label} for p in config.pairs],
            "tasks": list(config.tasks),
            "settings": [s.name for s in config.settings],
            "decodings": list(config.decodings),
            "statistics": config.statistics.model_dump(mode="json"),
            "prompt_selection": config.prompt_selection.model_dump(mode="json"),
            "notes": results.notes,
            "records": results.records,
            "duplicate_records": results.duplicates,
            "accuracy": accuracy_rows(results, confidence),
            "comparisons": rows,
            "rates": rate_tables(rows, confidence),
            "prompt_sensitivity": prompt_sensitivity(results),
        }
    )


def build_report(run_dir: Path, *, console: Console | None = None) -> Path:
    """Write report.json, the CSV tables, the figures and report.html; return the HTML path."""
    from medadapt.study.report.figures import write_figures
    from medadapt.study.report.html import write_html
    from medadapt.study.runner import read_run_config

    run_dir = Path(run_dir)
    config = read_run_config(run_dir)
    report = compute_report(run_dir, config)
    out = run_dir / REPORT_DIR
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "report.json", report)
    _write_csv(out / "accuracy.csv", report["accuracy"])
    _write_csv(out / "comparisons.csv", report["comparisons"])
    _write_csv(out / "rates.csv", [{k: v for k, v in r.items() if not isinstance(v, dict)} | {
        f"{v}_{f}": r[v][f] for v in ("win", "tie", "loss") for f in ("count", "rate", "ci_low", "ci_high")
    } for r in report["rates"]])
    _write_csv(out / "prompt_sensitivity.csv", report["prompt_sensitivity"])
    figures = write_figures(report, out)
    html = write_html(report, figures, out)
    if console is not None:
        from medadapt.study.report.summary import print_summary

        print_summary(report, html, console)
    return html
