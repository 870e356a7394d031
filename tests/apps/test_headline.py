"""The paper-style headline of the report: shares per variant × setting × task group × decoding, the paper's
published shares beside the paper configs, and the evidence next to each verdict."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from medadapt.study.config import parse_config
from medadapt.study.report.build import build_report
from medadapt.study.report.headline import headline_rows, minimal_detectable_difference, task_group

from .synthetic_run import make_synthetic_run


def comparison(task: str, setting: str, decoding: str, verdict: str, variant: str = "own prompts") -> dict[str, Any]:
    return {"variant": variant, "task": task, "setting": setting, "decoding": decoding, "verdict": verdict}


def paper_config(tmp_path: Path) -> Any:
    data = {"name": "paper-llm", "data_dir": str(tmp_path), "pairs": [{"general": "g", "medical": "m"}],
            "tasks": ["mednli", "pubmedqa"], "settings": ["zero-shot", "3-shot"]}
    return parse_config(data, source="test", base=tmp_path)


def test_task_groups_come_from_the_task_registry() -> None:
    assert task_group("pubmedqa") == "medical QA" and task_group("mmlu_anatomy") == "medical QA"
    assert task_group("mednli") == "clinical notes" and task_group("n2c2_2008-obesity_cad") == "clinical notes"
    assert task_group("vqa-rad") == "VQA" and task_group("mmmu_pharmacy") == "VQA"
    assert task_group("no-such-task") == "other"


def test_headline_shares_per_group_and_overall_with_paper_numbers(tmp_path: Path) -> None:
    cells = [
        comparison("mednli", "3-shot", "constrained", "loss"),
        comparison("mednli", "3-shot", "greedy", "tie"),
        comparison("pubmedqa", "3-shot", "constrained", "win"),
        comparison("pubmedqa", "3-shot", "greedy", "loss"),
        comparison("pubmedqa", "zero-shot", "greedy", "tie"),
    ]
    rows = headline_rows(cells, paper_config(tmp_path))
    by = {(r["setting"], r["group"], r["decoding"]): r for r in rows}
    notes = by[("3-shot", "clinical notes", "all")]
    assert (notes["n"], notes["win"], notes["tie"], notes["loss"]) == (2, 0.0, 0.5, 0.5)
    qa = by[("3-shot", "medical QA", "constrained")]
    assert (qa["n"], qa["win"]) == (1, 1.0)
    overall = by[("all", "all", "all")]
    assert overall["n"] == 5 and math.isclose(overall["loss"], 0.4)
    for row in rows:
        assert math.isclose(row["win"] + row["tie"] + row["loss"], 1.0)
        for v in ("win", "tie", "loss"):
            low, high = row[f"{v}_ci"]
            assert 0.0 <= low <= row[v] <= high <= 1.0
    pooled = by[("3-shot", "all", "all")]
    assert [p["win"] for p in pooled["paper"]] == [0.121, 0.227]  # EMNLP and v1, both 3-shot
    assert notes["paper"][0]["loss"] == 0.567  # v2, clinical-note tasks
    assert "paper" not in by[("zero-shot", "all", "all")]


def test_minimal_detectable_difference() -> None:
    assert math.isclose(minimal_detectable_difference(10, 100, 0.95), 2.8016 * math.sqrt(0.001), rel_tol=1e-4)
    assert minimal_detectable_difference(40, 400, 0.95) < minimal_detectable_difference(10, 100, 0.95)
    assert minimal_detectable_difference(0, 12, 0.95) > 0.1  # a 12-item cell cannot see a 10-point difference


def test_report_json_and_html_carry_the_headline(tmp_path: Path) -> None:
    run = make_synthetic_run(tmp_path / "run")
    html = build_report(run)
    report = json.loads((run / "report" / "report.json").read_text())
    overall = [r for r in report["headline"] if (r["setting"], r["group"], r["decoding"]) == ("all", "all", "all")]
    assert [r["variant"] for r in overall] == ["own prompts", "medopt"]
    own = [c for c in report["comparisons"] if c["variant"] == "own prompts"]
    assert overall[0]["n"] == len(own)
    assert overall[0]["win"] == pytest.approx(sum(c["verdict"] == "win" for c in own) / len(own))
    context = report["verdict_context"]
    assert len(context) == len(report["comparisons"])
    for row, c in zip(context, report["comparisons"], strict=True):
        assert row["verdict"] == c["verdict"] and row["n"] == c["n"]
        assert 0 <= row["discordant"] <= row["n"] and row["mdd"] > 0
    assert context[0]["spread_medical"] is not None  # the synthetic models ran prompt selection
    assert len(report["scope"]) == 1 and report["scope"][0].startswith("constrained: 8 cells of 40 test items")
    text = html.read_text()
    assert 'id="scope"' in text
    assert 'id="headline-table"' in text and 'id="verdict-context-table"' in text
    assert (run / "report" / "headline.csv").read_text().startswith("variant,setting,group,decoding,n,win,win_ci_low")
