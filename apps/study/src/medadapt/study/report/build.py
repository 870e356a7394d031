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
from medadapt.study.report.figures import plot_text
from medadapt.study.report.headline import headline_section
from medadapt.study.run_dir import (
    ACCURACY_CSV,
    COMPARISONS_CSV,
    PROMPT_SENSITIVITY_CSV,
    RATES_CSV,
    REPORT_JSON,
    report_dir,
)
from medadapt.study.shard_plan import Variant
from medadapt.study.store import read_store
from medadapt.study.store_check import StoreCheck
from medadapt.study.store_files import write_json_atomic, write_text_atomic

log = logging.getLogger("medadapt.study")

VARIANTS = tuple(v.value for v in Variant)  # the report's families, in display order


def accuracy_interval(correct: int, n: int, confidence: float) -> tuple[float, float]:
    """Wilson score interval of one model's accuracy (statsmodels)."""
    from statsmodels.stats.proportion import proportion_confint

    if n == 0:
        return (math.nan, math.nan)
    low, high = proportion_confint(correct, n, alpha=1 - confidence, method="wilson")
    return float(low), float(high)


def verdict_rule(config: StudyConfig) -> Any:
    """The medadapt.stats rule the config asks for."""
    from medadapt.stats import VerdictRule

    stats = config.statistics
    return VerdictRule(
        kind="ci" if stats.rule == "ci" else "pvalue",
        confidence=stats.confidence,
        test="bootstrap",
        correction=stats.correction,
    )


def compare_cells(cells: Sequence[Cell], config: StudyConfig) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One family per variant (own prompts, medopt, fine-tuned): paired bootstrap per cell (medical minus general),
    p-values corrected over the family, verdicts by the configured rule. Returns table rows and the families."""
    from medadapt.stats import compare_family

    stats = config.statistics
    rows: list[dict[str, Any]] = []
    families: dict[str, Any] = {}
    for variant in VARIANTS:
        members = [c for c in cells if c.variant == variant]
        if not members:
            continue
        groups = {}
        for cell in members:
            labels = cell.medical_result.groups
            if any(g is not None for g in labels):
                groups[plot_text(cell.label)] = [
                    g if g is not None else f"item:{i}" for i, g in zip(cell.medical_result.ids, labels, strict=True)
                ]
        family = compare_family(
            [(plot_text(c.label), list(c.medical_result.correct), list(c.general_result.correct)) for c in members],
            n_resamples=stats.n_resamples,
            confidence=stats.confidence,
            method=stats.method,
            seed=stats.seed,
            rule=verdict_rule(config),
            groups=groups or None,
        )
        families[variant] = family
        for cell, comparison in zip(members, family.cells, strict=True):
            result = comparison.result
            rows.append(
                {
                    "general": cell.general,
                    "medical": cell.medical,
                    "task": cell.task,
                    "setting": cell.setting,
                    "decoding": cell.decoding,
                    "variant": variant,
                    "n": result.n,
                    "accuracy_general": cell.general_result.accuracy,
                    "accuracy_medical": cell.medical_result.accuracy,
                    "prompt_general": cell.general_result.choice_label,
                    "prompt_medical": cell.medical_result.choice_label,
                    "delta": result.delta,
                    "ci_low": result.ci_low,
                    "ci_high": result.ci_high,
                    "p_value": comparison.p_value,
                    "p_corrected": comparison.p_corrected,
                    "correction": family.correction,
                    "verdict": comparison.verdict,
                    "rule": family.rule,
                    "key_general": cell.general_result.key,
                    "key_medical": cell.medical_result.key,
                    **{f"overlong_{k}" if k == "policy" else k: v for k, v in cell.overlong.items()},
                    "notes": list(result.notes),
                    "decided_by": comparison.decided_by,
                }
            )
    return rows, families


def verdict_rates(rows: Sequence[dict[str, Any]], confidence: float) -> tuple[dict[str, Any], Any]:
    """Win/tie/loss counts and rates with Wilson intervals (medadapt.stats.win_tie_loss)."""
    from medadapt.stats import win_tie_loss

    rates = win_tie_loss([r["verdict"] for r in rows], confidence=confidence, method="wilson")
    out: dict[str, Any] = {"n": rates.n}
    for verdict in ("win", "tie", "loss"):
        low, high = rates.intervals[verdict]
        out[verdict] = {"count": rates.counts[verdict], "rate": rates.rates[verdict], "ci_low": low, "ci_high": high}
    return out, rates


def rate_tables(rows: Sequence[dict[str, Any]], confidence: float) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Rates overall and by pair, task, setting and decoding, for each variant (+ the per-pair rate objects)."""
    tables = []
    per_pair: dict[str, dict[str, Any]] = {}
    for variant in VARIANTS:
        family = [r for r in rows if r["variant"] == variant]
        if not family:
            continue
        data, overall = verdict_rates(family, confidence)
        tables.append({"variant": variant, "by": "overall", "group": "all", **data})
        per_pair[variant] = {"all cells": overall}
        for by, key in (("pair", lambda r: f"{r['medical']} vs {r['general']}"), ("task", lambda r: r["task"]),
                        ("setting", lambda r: r["setting"]), ("decoding", lambda r: r["decoding"])):
            for group in sorted({key(r) for r in family}):
                members = [r for r in family if key(r) == group]
                data, rates = verdict_rates(members, confidence)
                tables.append({"variant": variant, "by": by, "group": group, **data})
                if by == "pair":
                    per_pair[variant][group] = rates
    return tables, per_pair


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


def selection_cells(results: StudyResults) -> list[dict[str, Any]]:
    """Per model × task × setting × decoding: how the prompt was selected and what it cost in scored prompts."""
    rows = []
    for sel in results.selections:
        summary = sel["selection"] or {}
        n_val = max((c.get("items_scored", 0) for c in sel["candidates"]), default=0)
        rows.append(
            {
                "model": sel["model"],
                "task": sel["task"],
                "setting": sel["setting"],
                "decoding": sel["decoding"],
                "strategy": summary.get("strategy", "exhaustive"),
                "candidates": len(sel["candidates"]),
                "prompts_scored": summary.get("prompts_scored", len(sel["candidates"]) * n_val),
                "exhaustive_prompts": summary.get("exhaustive_prompts", len(sel["candidates"]) * n_val),
                "chosen": sel["chosen"],
                "race": [
                    {k: c.get(k) for k in ("label", "items_scored", "val_accuracy", "dropped_after", "dropped_by")}
                    for c in sel["candidates"]
                    if c.get("dropped_after") is not None
                ],
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
    import io

    if not rows:
        write_text_atomic(path, "")
        return
    fields = [k for k in rows[0] if not isinstance(rows[0][k], list | dict)]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _fmt(row.get(k)) for k in fields})
    write_text_atomic(path, buffer.getvalue())


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


def compute_report(run_dir: Path, config: StudyConfig) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Every number of the report as data, plus the stats objects the figures are drawn from."""
    results = collect_results(run_dir, config)
    confidence = config.statistics.confidence
    rows, families = compare_cells(results.cells, config)
    rates, per_pair = rate_tables(rows, confidence)
    report = _clean(
        {
            "study": config.name,
            "pairs": [{"general": p.general.label, "medical": p.medical.label} for p in config.pairs],
            "tasks": list(config.tasks),
            "settings": [s.name for s in config.settings],
            "decodings": list(config.decodings),
            "statistics": config.statistics.model_dump(mode="json"),
            "prompt_selection": {
                **config.prompt_selection.model_dump(mode="json"),
                "cells": selection_cells(results),
            },
            "skipped": results.skipped,
            "uncompared": results.uncompared,
            "overlong_policy": config.overlong,
            "notes": results.notes + [f"{r['medical']} vs {r['general']} · {r['task']} · {r['setting']} · "
                                       f"{r['decoding']} ({r['variant']}): {note}" for r in rows for note in r["notes"]],
            "records": results.records,
            "duplicate_records": results.duplicates,
            "accuracy": accuracy_rows(results, confidence),
            "comparisons": rows,
            "rates": rates,
            "prompt_sensitivity": prompt_sensitivity(results),
            **headline_section(rows, results, read_store(run_dir), config),
        }
    )
    return report, families, per_pair


def multiplicity_statement(config: StudyConfig, n_comparisons: int) -> str:
    """What a verdict controls: one comparison, unless a corrected p-value rule is chosen."""
    stats = config.statistics
    if stats.rule == "corrected-p" and stats.correction != "none":
        controls = "the family-wise error" if stats.correction == "holm" else "the false discovery rate"
        return (f"Verdicts are corrected for multiple comparisons: p-values are adjusted with {stats.correction} "
                f"({controls}) over the comparisons of each variant before a cell is called a win or loss.")
    basis = "its own confidence interval" if stats.rule == "ci" else "its own uncorrected p-value"
    return (f"Verdicts are per comparison: each of the {n_comparisons} cells is decided on {basis}, with no "
            f"correction for multiple comparisons, so about {1 - stats.confidence:.0%} of true ties can be called a "
            "win or loss by chance. Set `statistics.rule: corrected-p` with a correction (holm, fdr_bh) for "
            "family-wise verdicts.")


def mark_partial(report: dict[str, Any], check: StoreCheck) -> None:
    """Record the store check in the report and, on each comparison, what is missing from its two units."""
    report["integrity"] = _clean(check.as_dict())
    for row in report["comparisons"]:
        problems = check.for_keys(row["key_general"], row["key_medical"])
        row["partial"] = "; ".join(p.message for p in problems) or None


def check_before_report(run_dir: Path, config: StudyConfig, allow_partial: bool) -> StoreCheck:
    """The store checked against its plans; refused unless complete, or unless partial results are asked for."""
    from medadapt.study.errors import StudyError
    from medadapt.study.store_check import check_store

    check = check_store(run_dir, config)
    if not check.ok and not allow_partial:
        raise StudyError(
            f"{run_dir}: the store is incomplete or inconsistent: {check.summary()}; finish it with `medadapt run`, "
            "or report what there is with `medadapt report --allow-partial`"
        )
    return check


def build_report(run_dir: Path, *, console: Console | None = None, allow_partial: bool = False) -> Path:
    """Check the store, then write report.json, the CSV tables, the figures and report.html; return the HTML path."""
    from medadapt.study.report.figures import write_figures
    from medadapt.study.report.headline_files import write_headline_csv
    from medadapt.study.report.html import write_html
    from medadapt.study.run_config import read_run_config
    from medadapt.study.run_logging import attach_run_log
    from medadapt.study.store_files import sweep_temp_files

    run_dir = Path(run_dir)
    config = read_run_config(run_dir)
    attach_run_log(run_dir)
    out = report_dir(run_dir)
    sweep_temp_files([out])
    check = check_before_report(run_dir, config, allow_partial)
    log.info("writing the report of %s", run_dir)
    report, families, per_pair = compute_report(run_dir, config)
    mark_partial(report, check)
    report["multiplicity"] = multiplicity_statement(config, len(report["comparisons"]))
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / REPORT_JSON, report)
    _write_csv(out / ACCURACY_CSV, report["accuracy"])
    _write_csv(out / COMPARISONS_CSV, report["comparisons"])
    _write_csv(out / RATES_CSV, [{k: v for k, v in r.items() if not isinstance(v, dict)} | {
        f"{v}_{f}": r[v][f] for v in ("win", "tie", "loss") for f in ("count", "rate", "ci_low", "ci_high")
    } for r in report["rates"]])
    _write_csv(out / PROMPT_SENSITIVITY_CSV, report["prompt_sensitivity"])
    write_headline_csv(out, report)
    figures = write_figures(families, per_pair, out)
    html = write_html(report, figures, out)
    log.info("report written: %s", html)
    if console is not None:
        from medadapt.study.report.summary import print_summary

        print_summary(report, html, console)
    return html
