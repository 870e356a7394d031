"""Prompt selection strategies in a study: exhaustive keeps the study's rule exactly; racing stores and reports its race."""

from __future__ import annotations

import json
from html import escape as html_escape
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from medadapt.study.config import parse_config
from medadapt.study.demo import demo_config
from medadapt.study.runner import execute_study
from medadapt.study.selection import validation_order
from medadapt.study.store import read_store
from medadapt.study.task_data import load_study_task

N_VAL = 24  # asked for; the vendored anatomy slice has fewer validation items, so each plan's n_val is used


def _config(tiny_models: tuple[Path, Path], strategy: dict[str, Any]) -> Any:
    data = demo_config(*tiny_models, tiny=True)
    data.update(
        tasks=["mmlu_anatomy"],
        settings=["zero-shot", "3-shot"],
        decodings=["constrained"],
        medopt=False,
        finetune={"enabled": False},
    )
    data["prompt_selection"].update(n_formats=4, n_shot_seeds=2, max_val_items=N_VAL, **strategy)
    data["limits"].update(max_test_items=8, batch_size=4)
    return parse_config(data, source="selection test", base=Path.cwd())


def _run(tiny_models: tuple[Path, Path], out: Path, **strategy: Any) -> tuple[Path, list[dict[str, Any]]]:
    run_dir = execute_study(_config(tiny_models, strategy), out, console=Console(quiet=True))
    entries = []
    for plan_path in sorted((run_dir / "store").glob("*/plan.json")):
        plan = json.loads(plan_path.read_text())
        entries += [{**e, "n_val": plan["n_val"]} for e in plan["entries"] if e["candidates"]]
    return run_dir, entries


@pytest.fixture(scope="module")
def exhaustive(tiny_models: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    return _run(tiny_models, tmp_path_factory.mktemp("exhaustive") / "run", strategy="exhaustive")


def test_exhaustive_scores_every_candidate_on_every_item_and_keeps_the_first_best(
    exhaustive: tuple[Path, list[dict[str, Any]]],
) -> None:
    run_dir, entries = exhaustive
    view = read_store(run_dir)
    assert len(entries) == 4  # 2 models × (zero-shot, 3-shot)
    for entry in entries:
        accuracies = []
        for candidate in entry["candidates"]:
            records = view.records(candidate["key"])
            assert len(records) == entry["n_val"] > 8
            accuracy = sum(r["correct"] for r in records.values()) / entry["n_val"]
            assert candidate["val_accuracy"] == pytest.approx(accuracy)
            accuracies.append(accuracy)
        first_best = accuracies.index(max(accuracies))
        assert entry["choice_label"] == entry["candidates"][first_best]["label"]
        n = len(entry["candidates"]) * entry["n_val"]
        assert entry["selection"] == {
            "strategy": "exhaustive", "candidates": len(entry["candidates"]), "prompts_scored": n,
            "exhaustive_prompts": n, "chosen": entry["choice_label"],
        }


def test_a_race_that_drops_nobody_gives_the_exhaustive_results(
    exhaustive: tuple[Path, list[dict[str, Any]]], tiny_models: tuple[Path, Path], tmp_path: Path
) -> None:
    run_dir, entries = exhaustive
    raced_dir, raced = _run(
        tiny_models, tmp_path / "run", strategy="racing", race={"first_block": 8, "alpha": 1e-12}
    )
    assert [e["choice_label"] for e in raced] == [e["choice_label"] for e in entries]
    assert [e["key"] for e in raced] == [e["key"] for e in entries]
    for a, b in zip(entries, raced, strict=True):
        assert [(c["key"], c["val_accuracy"]) for c in a["candidates"]] == [
            (c["key"], c["val_accuracy"]) for c in b["candidates"]
        ]
        assert b["selection"]["strategy"] == "racing"
    test_records = lambda d: {k: v for k, v in read_store(d).predictions.items() if k in {e["key"] for e in entries}}  # noqa: E731
    assert test_records(raced_dir) == test_records(run_dir)


RACE = {"strategy": "racing", "race": {"first_block": 4, "alpha": 0.5}}


@pytest.fixture(scope="module")
def raced(tiny_models: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    return _run(tiny_models, tmp_path_factory.mktemp("raced") / "run", **RACE)


def test_racing_stores_its_race_and_the_report_shows_the_cost(raced: tuple[Path, list[dict[str, Any]]]) -> None:
    run_dir, entries = raced
    report = json.loads((run_dir / "report" / "report.json").read_text())
    cells = report["prompt_selection"]["cells"]
    assert report["prompt_selection"]["strategy"] == "racing"
    assert {(c["model"], c["setting"]) for c in cells} == {(e["model"], e["setting"]) for e in map(_with_model(run_dir), entries)}
    for cell in cells:
        assert cell["strategy"] == "racing"
        assert cell["prompts_scored"] <= cell["exhaustive_prompts"]
    view = read_store(run_dir)
    for entry in entries:
        for candidate in entry["candidates"]:
            assert len(view.records(candidate["key"])) == candidate["items_scored"]
            if candidate["dropped_after"] is not None:
                assert candidate["items_scored"] == candidate["dropped_after"] < entry["n_val"]
                assert candidate["dropped_by"] in {c["label"] for c in entry["candidates"]}
        scored = sum(c["items_scored"] for c in entry["candidates"])
        assert entry["selection"]["prompts_scored"] == scored
    html = (run_dir / "report" / "report.html").read_text()
    assert "selection-cost-table" in html
    dropped = [c for e in entries for c in e["candidates"] if c["dropped_after"] is not None]
    assert dropped, "alpha 0.5 on 4-item blocks drops some candidate"
    for candidate in dropped:  # the evidence: when, at what accuracy, by whom
        shown = f"({candidate['dropped_after']}, {100 * candidate['val_accuracy']:.1f}%, {candidate['dropped_by']})"
        assert html_escape(candidate["label"]) + " " + html_escape(shown) in html


def test_a_race_takes_the_validation_items_in_a_seeded_random_order(
    raced: tuple[Path, list[dict[str, Any]]], tiny_models: tuple[Path, Path]
) -> None:
    """The drop test assumes the items seen are a random subset: a candidate dropped after k items was scored on
    the first k of the seeded permutation, not of the data file's order."""
    run_dir, entries = raced
    config = _config(tiny_models, RACE)
    data_order = [ex.id for ex in load_study_task(config, "mmlu_anatomy").val]
    race_order = [ex.id for ex in validation_order(load_study_task(config, "mmlu_anatomy").val, config.prompt_selection)]
    assert race_order != data_order and sorted(race_order) == sorted(data_order)
    view = read_store(run_dir)
    partial = [c for e in entries for c in e["candidates"] if c["items_scored"] < e["n_val"]]
    assert partial, "alpha 0.5 on 4-item blocks drops some candidate"
    for candidate in partial:
        assert set(view.records(candidate["key"])) == set(race_order[: candidate["items_scored"]])


def _with_model(run_dir: Path) -> Any:
    models = {
        e["key"]: json.loads(p.read_text())["model"]
        for p in (run_dir / "store").glob("*/plan.json")
        for e in json.loads(p.read_text())["entries"]
    }
    return lambda entry: {**entry, "model": models[entry["key"]]}
