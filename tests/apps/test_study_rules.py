"""The study's per-model rules as data (prompt style, default-only selection, skipped tasks), over-long prompts never
silent, and the n2c2 note-length filter applied in a study run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from medadapt.study.config import ModelRef, parse_config
from medadapt.study.model_identity import resolve_spec
from medadapt.study.model_job import candidates_of, skip_reason
from medadapt.study.run_dir import PREDICTIONS_FILE, STORE_DIR, shard_name
from medadapt.study.shard_plan import Variant, read_shard_plan

from .synthetic_run import make_synthetic_run


def test_config_prompt_style_reaches_registry_models() -> None:
    # The study's bug 6 (Llama-3-8B-Instruct with the '### Question:' template) is switched off from a config.
    assert resolve_spec(ModelRef(name="llama-3-8b-instruct")).prompt_style == "default"
    assert resolve_spec(ModelRef(name="llama-3-8b-instruct", prompt_style="chat")).prompt_style == "chat"


def test_registry_holds_the_studys_restrictions_and_a_config_replaces_them() -> None:
    for name in ("biomistral-7b", "med42-v1-70b"):
        assert candidates_of(resolve_spec(ModelRef(name=name))) == "default-only"
    assert candidates_of(resolve_spec(ModelRef(name="meditron-70b"))) == "grid"
    for name in ("llama-2-7b", "meditron-7b"):
        spec = resolve_spec(ModelRef(name=name))
        assert skip_reason(spec, "ehrnoteqa") is not None
        assert skip_reason(spec, "n2c2_2008-obesity_cad") is not None
        assert skip_reason(spec, "medqa") is None
    freed = resolve_spec(ModelRef(name="llama-2-7b", skip_tasks=[], prompt_candidates="default-only"))
    assert skip_reason(freed, "ehrnoteqa") is None
    assert candidates_of(freed) == "default-only"


def test_skipped_tasks_and_default_only_selection_in_a_run(tiny_models: tuple[Path, Path], tmp_path: Path) -> None:
    from medadapt.study.demo import demo_config
    from medadapt.study.runner import execute_study

    general, medical = tiny_models
    data = demo_config(general, medical, tiny=True)
    data["finetune"] = {"enabled": False}
    data["tasks"] = ["mmlu_anatomy", "pubmedqa"]
    data["settings"] = ["zero-shot"]
    data["decodings"] = ["constrained"]
    data["pairs"][0]["general"]["prompt_candidates"] = "default-only"
    data["pairs"][0]["medical"]["skip_tasks"] = ["pub*"]
    config = parse_config(data, source="test", base=Path.cwd())
    run_dir = execute_study(config, tmp_path / "run", console=Console(quiet=True))
    report = json.loads((run_dir / "report" / "report.json").read_text())
    assert {c["task"] for c in report["comparisons"]} == {"mmlu_anatomy"}
    assert report["skipped"] == [{"general": "tiny-general", "medical": "tiny-medical", "task": "pubmedqa",
                                  "reason": "tiny-medical skips pubmedqa: the study config's skip_tasks"}]
    assert any("skipped" in note and "pubmedqa" in note for note in report["notes"])
    assert not (run_dir / STORE_DIR / shard_name("tiny-medical", "pubmedqa")).exists()
    general_plan = read_shard_plan(run_dir, shard_name("tiny-general", "mmlu_anatomy"))
    medical_plan = read_shard_plan(run_dir, shard_name("tiny-medical", "mmlu_anatomy"))
    assert general_plan is not None and medical_plan is not None
    own = [e for e in general_plan.entries if e.variant == Variant.OWN]
    assert own and all(e.candidates == [] and e.choice_label == "default" for e in own)
    assert [c["label"] for c in medical_plan.entries[0].candidates] == ["default", "format 0"]
    # The general model still runs pubmedqa (its own accuracy), without medopt against the skipped counterpart.
    plan = read_shard_plan(run_dir, shard_name("tiny-general", "pubmedqa"))
    assert plan is not None and {e.variant for e in plan.entries} == {Variant.OWN}
    # Each model was loaded once for all its tasks (the local executor's job is the model).
    log = (run_dir / "logs" / "study.log").read_text(encoding="utf-8")
    assert log.count("loading model tiny-general ") == 1 and log.count("loading model tiny-medical ") == 1


def _mark_too_long(run_dir: Path, shard: str, key: str, ids: set[str]) -> None:
    path = run_dir / STORE_DIR / shard / PREDICTIONS_FILE
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    for row in rows:
        if row["key"] == key and row["id"] in ids:
            row.update(status="too_long", pred=None, correct=False)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


@pytest.mark.parametrize("policy", ["exclude", "wrong"])
def test_overlong_items_are_counted_and_follow_the_policy(tmp_path: Path, policy: str) -> None:
    from medadapt.study.report.build import build_report, compute_report
    from medadapt.study.runner import read_run_config

    run_dir = make_synthetic_run(tmp_path / "run")
    _mark_too_long(run_dir, shard_name("gen-a", "task-x"), "gen-a-task-x-own", {"q000", "q001", "q002"})
    _mark_too_long(run_dir, shard_name("med-a", "task-x"), "med-a-task-x-own", {"q002", "q003"})
    config = read_run_config(run_dir).model_copy(update={"overlong": policy})
    report, _, _ = compute_report(run_dir, config)
    cell = next(c for c in report["comparisons"]
                if (c["general"], c["task"], c["variant"]) == ("gen-a", "task-x", "own prompts"))
    assert (cell["too_long_general"], cell["too_long_medical"], cell["overlong_policy"]) == (3, 2, policy)
    if policy == "exclude":
        assert (cell["n"], cell["excluded"]) == (36, 4)  # the 4 items too long for either model, for both
    else:
        assert (cell["n"], cell["excluded"]) == (40, 0)
    medopt = next(c for c in report["comparisons"]
                  if (c["general"], c["task"], c["variant"]) == ("gen-a", "task-x", "medopt"))
    assert (medopt["too_long_general"], medopt["too_long_medical"]) == (0, 2)
    accuracy = next(a for a in report["accuracy"] if (a["model"], a["task"]) == ("gen-a", "task-x"))
    assert accuracy["too_long"] == 3
    if policy == "exclude":
        console = Console(record=True, width=240)
        html = build_report(run_dir, console=console)
        printed = console.export_text()
        assert "3/2 (−4)" in printed
        assert "left out of the comparison for both models" in printed
        assert "3/2 (−4)" in html.read_text(encoding="utf-8")


RECORDS = '<?xml version="1.0" encoding="UTF-8"?>\n<root><docs>{docs}</docs></root>'
ANNOTATIONS = """<?xml version="1.0" encoding="UTF-8"?>
<diseaseset><diseases source="intuitive"><disease name="CAD">{cad}</disease></diseases></diseaseset>"""


def _n2c2(folder: Path, notes: dict[int, str], part: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    docs = "".join(f'<doc id="{i}"><text><![CDATA[{text}]]></text></doc>' for i, text in notes.items())
    cad = "".join(f'<doc id="{i}" judgment="{"YN"[i % 2]}"/>' for i in notes)
    names = (("obesity_patient_records_training.xml", "obesity_standoff_intuitive_annotations_training.xml")
             if part == "train" else
             ("obesity_patient_records_test.xml", "obesity_standoff_annotations_test_intuitive.xml"))
    (folder / names[0]).write_text(RECORDS.format(docs=docs), encoding="utf-8")
    (folder / names[1]).write_text(ANNOTATIONS.format(cad=cad), encoding="utf-8")


def test_n2c2_long_test_notes_are_filtered_in_a_study_run(tiny_models: tuple[Path, Path], tmp_path: Path) -> None:
    from medadapt.study.note_filter import token_counter
    from medadapt.study.task_data import load_study_task

    tokenizer = str(tiny_models[0])
    short, long = "Patient with chest pain.", "Patient with chest pain. " * 40
    _n2c2(tmp_path / "n2c2_2008", {i: short if i % 3 else long for i in range(1, 21)}, "train")
    _n2c2(tmp_path / "n2c2_2008", {i: short if i % 4 else long for i in range(100, 112)}, "test")
    limit = token_counter(tokenizer)(short) + 5
    data: dict[str, Any] = {
        "data_dir": str(tmp_path),
        "pairs": [{"general": "llama-2-7b", "medical": "meditron-7b"}],
        "tasks": ["n2c2_2008-obesity_cad"],
        "note_filter": {"tokenizer": tokenizer, "max_tokens": limit},
    }
    splits = load_study_task(parse_config(data, source="test", base=tmp_path), "n2c2_2008-obesity_cad")
    assert len(splits.test) == 9  # 100, 104, 108 are long
    assert all("chest pain. Patient" not in ex.question for ex in splits.test)
    assert splits.filtered == {f"test: longer than {limit} tokens ({tokenizer} tokenizer)": 3}
    assert len(splits.train) + len(splits.val) == 20  # the study filtered the test notes only
    unfiltered = load_study_task(
        parse_config({**data, "note_filter": None}, source="test", base=tmp_path), "n2c2_2008-obesity_cad"
    )
    assert len(unfiltered.test) == 12
