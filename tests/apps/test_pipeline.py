"""The whole study on tiny models: selection, zero/3-shot, greedy/constrained, medopt, fine-tuning, stats, report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from medadapt.study.config import parse_config
from medadapt.study.demo import demo_config
from medadapt.study.runner import execute_study
from medadapt.study.store import read_store

# transformers 5 deprecates the name peft still calls while preparing a LoRA model for training.
pytestmark = pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")


@pytest.fixture(scope="module")
def tiny_run(tiny_models: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    general, medical = tiny_models
    config = parse_config(demo_config(general, medical, tiny=True), source="tiny demo", base=Path.cwd())
    out = tmp_path_factory.mktemp("tiny-run") / "run"
    return execute_study(config, out, console=Console(quiet=True))


def test_report_files_and_cells(tiny_run: Path) -> None:
    report_dir = tiny_run / "report"
    for name in ("report.json", "report.html", "accuracy.csv", "comparisons.csv", "rates.csv", "prompt_sensitivity.csv"):
        assert (report_dir / name).is_file(), name
    assert list(report_dir.glob("forest-*.png"))
    report = json.loads((report_dir / "report.json").read_text())
    variants = {c["variant"] for c in report["comparisons"]}
    assert variants == {"own prompts", "medopt", "fine-tuned"}
    own = [c for c in report["comparisons"] if c["variant"] == "own prompts"]
    # 3 tasks × zero-shot + MMLU × 3-shot, × 2 decodings; a cell whose prompts are all longer than the tiny models'
    # context (3-shot MMLU) is listed as not compared, its too-long counts with it.
    uncompared = [c for c in report["uncompared"] if c["variant"] == "own prompts"]
    assert len(own) + len(uncompared) == (3 + 1) * 2
    assert all(c["excluded"] > 0 and c["too_long_general"] + c["too_long_medical"] > 0 for c in uncompared)
    assert {c["verdict"] for c in report["comparisons"]} <= {"win", "tie", "loss"}
    assert report["duplicate_records"] == 0
    overall = next(r for r in report["rates"] if r["by"] == "overall" and r["variant"] == "own prompts")
    assert overall["n"] == len(own)
    assert report["prompt_sensitivity"], "model-specific selection must leave its evidence"
    assert any("carved" in note for note in report["notes"]), "MedQA has no train/val split on disk"


def test_store_records_and_prompts_are_traceable(tiny_run: Path) -> None:
    view = read_store(tiny_run)
    assert view.duplicates == 0
    prompt_hashes: set[str] = set()
    for shard in (tiny_run / "store").iterdir():
        for line in (shard / "prompts.jsonl").read_text().splitlines():
            prompt_hashes.add(json.loads(line)["hash"])
    for key, records in view.predictions.items():
        assert key in view.units
        for record in records.values():
            assert record["prompt"] in prompt_hashes
            assert ("logprobs" in record) != ("text" in record)
    manifest = json.loads((tiny_run / "manifest.json").read_text())
    assert manifest["starts"][0]["libraries"]["medadapt-study"]
    assert "hardware" in manifest["starts"][0] and manifest["seeds"]["validation_subset_seed"] == 42
    assert (tiny_run / "logs" / "study.log").is_file()


def test_medopt_uses_the_medical_models_selected_prompt(tiny_run: Path) -> None:
    plans = {p.parent.name: json.loads(p.read_text()) for p in (tiny_run / "store").glob("*/plan.json")}
    general = plans["tiny-general--mmlu_anatomy"]
    medical = plans["tiny-medical--mmlu_anatomy"]
    for entry in (e for e in general["entries"] if e["role"] == "medopt"):
        twin = [m for m in medical["entries"] if m["setting"] == entry["setting"] and m["decoding"] == entry["decoding"]]
        assert entry["counterpart"] == "tiny-medical"
        assert entry["choice"] == twin[0]["choice"]


def test_rerun_redoes_nothing(tiny_run: Path) -> None:
    before = {p: p.stat().st_size for p in (tiny_run / "store").glob("*/predictions.jsonl")}
    from medadapt.study.runner import read_run_config

    execute_study(read_run_config(tiny_run), tiny_run, console=Console(quiet=True))
    after = {p: p.stat().st_size for p in (tiny_run / "store").glob("*/predictions.jsonl")}
    assert before == after


def test_config_change_that_cannot_be_reconciled_is_refused(tiny_run: Path, tmp_path: Path) -> None:
    import shutil

    from medadapt.study.errors import StudyError
    from medadapt.study.runner import read_run_config

    # Item ids under another data directory may name other questions: stored records cannot answer for them.
    have = read_run_config(tiny_run)
    copy = shutil.copytree(have.data_dir, tmp_path / "data")
    config = have.model_copy(update={"data_dir": copy})
    with pytest.raises(StudyError, match=r"different study .*data_dir changed"):
        execute_study(config, tiny_run, console=Console(quiet=True))
