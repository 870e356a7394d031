"""The report from a synthetic store: tables, verdicts, rates, sensitivity, figures, HTML; deterministic."""

from __future__ import annotations

import json
from pathlib import Path

from medadapt.study.report.build import build_report

from .synthetic_run import make_synthetic_run


def test_report_from_synthetic_store(tmp_path: Path) -> None:
    run = make_synthetic_run(tmp_path / "run")
    html = build_report(run)
    report = json.loads((run / "report" / "report.json").read_text())
    assert len(report["comparisons"]) == 2 * 2 * 2  # pairs × tasks × (own prompts, medopt)
    assert {c["variant"] for c in report["comparisons"]} == {"own prompts", "medopt"}
    for c in report["comparisons"]:
        assert c["ci_low"] <= c["delta"] <= c["ci_high"]
        assert c["p_corrected"] >= c["p_value"]
        assert c["verdict"] in ("win", "tie", "loss")
    overall = [r for r in report["rates"] if r["by"] == "overall"]
    assert [r["variant"] for r in overall] == ["own prompts", "medopt"]
    assert sum(overall[0][v]["count"] for v in ("win", "tie", "loss")) == 4
    assert len(report["accuracy"]) == 8 and all(a["ci_low"] <= a["accuracy"] <= a["ci_high"] for a in report["accuracy"])
    assert len(report["prompt_sensitivity"]) == 8
    text = html.read_text()
    assert 'id="verdict-table"' in text and "data:image/png;base64," in text
    assert (run / "report" / "forest-own-prompts.png").is_file()


def test_report_is_byte_stable(tmp_path: Path) -> None:
    first = make_synthetic_run(tmp_path / "a")
    second = make_synthetic_run(tmp_path / "b")
    build_report(first)
    build_report(second)
    build_report(second)
    for name in ("report.json", "report.html", "comparisons.csv", "forest-own-prompts.png"):
        assert (first / "report" / name).read_bytes() == (second / "report" / name).read_bytes(), name
