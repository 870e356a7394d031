"""Fault injection: damaged stores, bad configs and hostile names, each ending in a correct report or a one-line
error with a non-zero exit, and never with fewer records than before. RELIABILITY.md lists every case.

Most cases work on a synthetic store (no model); the resume cases share one tiny study on the random demo models.
The SIGKILL + resume case is tests/apps/test_kill_resume.py."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from medadapt.study.cli import app
from medadapt.study.config import parse_config
from medadapt.study.errors import StudyError
from medadapt.study.run_dir import shard_name

from .synthetic_run import N_ITEMS, make_synthetic_run

# ---------------------------------------------------------------------------------------------------- helpers


def cli(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def one_line_error(result: Any, *needles: str) -> str:
    """The CLI refused: exit 2, exactly one line on stderr, naming what is wrong."""
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def records(run: Path) -> Counter[bytes]:
    """Every prediction line of the store (a multiset): what must never be lost."""
    lines: Counter[bytes] = Counter()
    for path in sorted((run / "store").glob("*/predictions.jsonl")):
        lines.update(line for line in path.read_bytes().splitlines(keepends=True) if line.endswith(b"\n"))
    return lines


def report_refused(run: Path, *needles: str) -> str:
    """`medadapt report` refused in one line, and the store holds exactly the records it held before."""
    before = records(run)
    line = one_line_error(cli("report", str(run)), *needles)
    assert records(run) == before
    return line


def report_json(run: Path) -> dict[str, Any]:
    return json.loads((run / "report" / "report.json").read_text(encoding="utf-8"))


def shard(run: Path, label: str = "med-a", task: str = "task-x") -> Path:
    return run / "store" / shard_name(label, task)


def cut_items(path: Path, n: int) -> None:
    """Drop the last n prediction lines of a shard (as if those items were never scored)."""
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:-n]))


@pytest.fixture
def synthetic(tmp_path: Path) -> Path:
    return make_synthetic_run(tmp_path / "run")


# ------------------------------------------------------------------------- report: the store against its plans


def test_complete_store_reports_with_exit_0(synthetic: Path) -> None:
    result = cli("report", str(synthetic))
    assert result.exit_code == 0, result.output
    report = report_json(synthetic)
    assert report["integrity"] == {"complete": True, "problems": []}
    assert all(c["partial"] is None and c["n"] == N_ITEMS for c in report["comparisons"])


def test_items_missing_from_both_shards_refuse_the_report(synthetic: Path) -> None:
    for label in ("med-a", "gen-a"):
        cut_items(shard(synthetic, label) / "predictions.jsonl", 8 if label == "med-a" else 48)
    before = records(synthetic)
    report_refused(synthetic, f"{N_ITEMS - 8} of {N_ITEMS} test items stored", "--allow-partial")
    assert not (synthetic / "report").exists()

    result = cli("report", str(synthetic), "--allow-partial")
    assert result.exit_code == 0, result.output
    report = report_json(synthetic)
    assert report["integrity"]["complete"] is False
    cell = next(c for c in report["comparisons"]
                if c["medical"] == "med-a" and c["task"] == "task-x" and c["variant"] == "own prompts")
    assert cell["n"] == N_ITEMS - 8 and f"{N_ITEMS - 8} of {N_ITEMS}" in cell["partial"]
    complete = next(c for c in report["comparisons"] if c["medical"] == "med-b")
    assert complete["partial"] is None and complete["n"] == N_ITEMS
    assert "partial" in result.output and f"{N_ITEMS - 8} of {N_ITEMS}" in result.output
    html = (synthetic / "report" / "report.html").read_text(encoding="utf-8")
    assert 'id="partial"' in html and f"{N_ITEMS - 8} of {N_ITEMS} test items stored" in html
    assert records(synthetic) == before


def test_deleted_shard_refuses_the_report(synthetic: Path) -> None:
    shutil.rmtree(shard(synthetic, "gen-b", "task-y"))
    report_refused(synthetic, "gen-b on task-y has not finished")
    result = cli("report", str(synthetic), "--allow-partial")
    assert result.exit_code == 0, result.output
    problems = report_json(synthetic)["integrity"]["problems"]
    assert [p["shard"] for p in problems] == [shard_name("gen-b", "task-y")]


@pytest.mark.parametrize("flip, message", [(False, "1 duplicate records"), (True, "1 conflicting records")])
def test_duplicate_or_conflicting_records_refuse_the_report(synthetic: Path, flip: bool, message: str) -> None:
    path = shard(synthetic) / "predictions.jsonl"
    first = json.loads(path.read_bytes().splitlines()[0])
    if flip:
        first["correct"], first["pred"] = not first["correct"], "B"
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(first) + "\n")
    before = records(synthetic)
    report_refused(synthetic, shard_name("med-a", "task-x"), message)
    assert records(synthetic) == before


def test_prompts_file_deleted_refuses_the_report(synthetic: Path) -> None:
    (shard(synthetic) / "prompts.jsonl").unlink()
    report_refused(synthetic, "prompts.jsonl lacks 1 prompt texts")


@pytest.mark.parametrize("line", [b"[1, 2]\n", b'{"note": "hand edit"}\n', b"\xff\xfe\n"])
def test_a_line_that_is_not_a_record_is_named(synthetic: Path, line: bytes) -> None:
    path = shard(synthetic) / "predictions.jsonl"
    with path.open("ab") as fh:
        fh.write(line)
    report_refused(synthetic, f"{path}:{N_ITEMS + 1}:")


def test_truncated_plan_is_named(synthetic: Path) -> None:
    plan = shard(synthetic) / "plan.json"
    plan.write_bytes(plan.read_bytes()[:40])
    report_refused(synthetic, "plan.json is truncated or not JSON", "medadapt run")


@pytest.mark.parametrize("edit", [{"entries": [[1]]}, {"entries": [{"key": "k"}]}, {"n_test": "40"}, {"entries": 3}])
def test_a_plan_that_is_not_a_plan_is_named(synthetic: Path, edit: dict[str, Any]) -> None:
    plan = shard(synthetic) / "plan.json"
    plan.write_text(json.dumps({**json.loads(plan.read_text(encoding="utf-8")), **edit}), encoding="utf-8")
    report_refused(synthetic, "plan.json is not a shard plan", "medadapt run")


def test_corrupt_study_file_is_named(synthetic: Path) -> None:
    study = synthetic / "study.yaml"
    study.write_text(study.read_text(encoding="utf-8") + "pairs: [{general: a\n", encoding="utf-8")
    report_refused(synthetic, "study.yaml:", "damaged")


def test_report_sweeps_temporary_files_a_kill_left(synthetic: Path) -> None:
    report_dir = synthetic / "report"
    report_dir.mkdir()
    stale = [report_dir / ".report.json.tmp-4242", report_dir / ".report.html.abc123.tmp"]
    for path in stale:
        path.write_text("half", encoding="utf-8")
    assert cli("report", str(synthetic)).exit_code == 0
    assert not any(p.exists() for p in stale)
    assert not [p for p in report_dir.iterdir() if p.name.startswith(".")]


def test_a_failed_atomic_write_leaves_no_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from medadapt.study.store_files import write_text_atomic

    target = tmp_path / "report.json"
    target.write_text("old", encoding="utf-8")

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space"):
        write_text_atomic(target, "new")
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"] and target.read_text() == "old"


# ------------------------------------------------------------------- nothing after inference loses the report


@pytest.mark.parametrize("general", ["gen[/x]", "gen$\\frac$", "gen[bold]$x$"])
def test_names_with_markup_or_mathtext_get_a_report(tmp_path: Path, general: str) -> None:
    run = make_synthetic_run(tmp_path / "run", pairs=[(general, "med-a")])
    result = cli("report", str(run))
    assert result.exit_code == 0, result.output
    assert general in result.output
    assert {c["general"] for c in report_json(run)["comparisons"]} == {general}
    assert (run / "report" / "forest-own-prompts.png").is_file()


def test_progress_shows_markup_names_as_written() -> None:
    """Progress bars run during inference: a label like `gen[/x]` must not stop the study there either."""
    import io

    from medadapt.study.progress_bars import progress_bar

    screen = io.StringIO()
    with progress_bar(Console(file=screen, force_terminal=True, width=120)) as progress:
        task = progress.add_task("test gen[/x] · gen$\\frac$ · pubmedqa", total=2)
        progress.update(task, completed=1)
    assert "gen[/x]" in screen.getvalue()


def test_one_subject_test_set_gets_a_report_with_a_note(tmp_path: Path) -> None:
    """Every item in one subject: the clustered bootstrap has one cluster and falls back to items, saying so."""
    run = make_synthetic_run(tmp_path / "run", group="anatomy")
    result = cli("report", str(run))
    assert result.exit_code == 0, result.output
    from markupsafe import escape

    report = report_json(run)
    assert all(c["notes"] for c in report["comparisons"]), "every cell fell back and must say so"
    note = report["comparisons"][0]["notes"][0]
    assert any(n.endswith(note) for n in report["notes"])
    assert str(escape(note)) in (run / "report" / "report.html").read_text(encoding="utf-8")
    assert " ".join(note.split()) in " ".join(result.output.split())


@pytest.mark.parametrize(
    "statistics, expected",
    [
        ({}, "Verdicts are per comparison"),
        ({"rule": "corrected-p", "correction": "none"}, "Verdicts are per comparison"),
        ({"rule": "corrected-p", "correction": "holm"}, "corrected for multiple comparisons"),
    ],
)
def test_report_says_what_a_verdict_controls(tmp_path: Path, statistics: dict[str, str], expected: str) -> None:
    run = make_synthetic_run(tmp_path / "run", statistics=statistics)
    result = cli("report", str(run))
    assert result.exit_code == 0
    assert expected in report_json(run)["multiplicity"]
    assert expected in (run / "report" / "report.html").read_text(encoding="utf-8")
    assert expected in " ".join(result.output.split())


# ------------------------------------------------------------------------ config: refused before any model loads

BASE: dict[str, Any] = {"data_dir": ".", "pairs": [{"general": "gen", "medical": "med"}], "tasks": ["pubmedqa"]}


@pytest.mark.parametrize(
    "update, needle",
    [
        ({"statistics": {"seed": -1}}, "statistics.seed"),
        ({"prompt_selection": {"test_shot_seed": -3}}, "prompt_selection.test_shot_seed"),
        ({"limits": {"batch_size": True}}, "limits.batch_size"),
        ({"limits": {"max_test_items": False}}, "limits.max_test_items"),
        ({"finetune": {"ranks": [True]}}, "finetune.ranks[0]"),
        ({"medopt": "yes"}, "medopt"),
        ({"name": "../../x"}, "name"),
        ({"name": "a/b"}, "name"),
        ({"name": ".."}, "name"),
    ],
)
def test_bad_config_values_are_refused(tmp_path: Path, update: dict[str, Any], needle: str) -> None:
    with pytest.raises(StudyError) as info:
        parse_config({**BASE, **update}, source="study.yaml", base=tmp_path)
    assert str(info.value).startswith(f"study.yaml: {needle}")


def test_bad_config_value_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    config = tmp_path / "study.yaml"
    config.write_text("name: ../../escaped\ndata_dir: .\npairs: [{general: a, medical: b}]\ntasks: [pubmedqa]\n")
    one_line_error(cli("run", str(config)), "name")
    assert not (tmp_path.parent.parent / "escaped").exists() and sorted(tmp_path.iterdir()) == [config]


def test_two_checkpoints_with_one_basename_are_refused(tmp_path: Path) -> None:
    for folder in ("a", "b"):
        (tmp_path / folder / "model").mkdir(parents=True)
    data = {**BASE, "pairs": [{"general": {"path": "a/model"}, "medical": {"path": "b/model"}}]}
    with pytest.raises(StudyError) as info:
        parse_config(data, source="study.yaml", base=tmp_path)
    message = str(info.value)
    assert "pairs[0].general and pairs[0].medical" in message and "'model'" in message
    assert str(tmp_path / "a" / "model") in message and str(tmp_path / "b" / "model") in message


def test_one_model_named_twice_is_one_model(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    data = {**BASE, "pairs": [{"general": "gen", "medical": {"path": "m"}}, {"general": "gen2", "medical": "./m"}]}
    config = parse_config(data, source="study.yaml", base=tmp_path)
    assert [m.label for m in config.models()] == ["m", "gen", "gen2"]


def test_labels_that_sanitise_alike_get_distinct_shards() -> None:
    names = {shard_name(label, "pubmedqa") for label in ("tiny model", "tiny_model", "tiny/model", "tiny+model")}
    assert len(names) == 4
    assert shard_name("tiny-general", "pubmedqa") == "tiny-general--pubmedqa"


# ------------------------------------------------------------------------ resume cases on a real tiny study


@pytest.fixture(scope="module")
def tiny_study(tiny_models: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    """A one-task study on the tiny random models, labelled `tiny model` and `tiny_model` (one shard name before)."""
    from medadapt.study.demo import packaged_path
    from medadapt.study.runner import execute_study

    general, medical = tiny_models
    data = {
        "name": "faults",
        "data_dir": str(packaged_path("demo_data")),
        "pairs": [{"general": {"name": "tiny model", "path": str(general), "prompt_style": "chat"},
                   "medical": {"name": "tiny_model", "path": str(medical), "prompt_style": "chat"}}],
        "tasks": ["mmlu_anatomy"],  # short prompts: PubMedQA's are too long for the 512-token tiny models
        "decodings": ["constrained"],
        "medopt": False,
        "limits": {"max_test_items": 6, "batch_size": 4},
        "statistics": {"n_resamples": 200},
    }
    run = tmp_path_factory.mktemp("faults") / "run"
    execute_study(parse_config(data, source="faults", base=Path.cwd()), run, console=Console(quiet=True))
    return data, run


def resume(data: dict[str, Any], run: Path) -> None:
    from medadapt.study.runner import execute_study

    execute_study(parse_config(data, source="faults", base=Path.cwd()), run, console=Console(quiet=True))


def copy_of(tiny_study: tuple[dict[str, Any], Path], tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_study[1], tmp_path / "run"))


def test_similar_labels_run_as_two_models(tiny_study: tuple[dict[str, Any], Path]) -> None:
    _, run = tiny_study
    plans = sorted(p.parent.name for p in (run / "store").glob("*/plan.json"))
    assert len(plans) == 2
    [cell] = report_json(run)["comparisons"]
    assert cell["key_general"] != cell["key_medical"] and cell["n"] == 6
    assert report_json(run)["integrity"]["complete"] is True


def test_truncated_manifest_is_rebuilt_on_resume(tiny_study: tuple[dict[str, Any], Path], tmp_path: Path) -> None:
    run = copy_of(tiny_study, tmp_path)
    before = records(run)
    manifest = run / "manifest.json"
    manifest.write_bytes(manifest.read_bytes()[:100])
    resume(tiny_study[0], run)
    rebuilt = json.loads(manifest.read_text(encoding="utf-8"))
    assert "rebuilt_at" in rebuilt and len(rebuilt["starts"]) == 1
    assert records(run) == before


def test_truncated_plan_is_rebuilt_on_resume(tiny_study: tuple[dict[str, Any], Path], tmp_path: Path) -> None:
    run = copy_of(tiny_study, tmp_path)
    before = records(run)
    plan = run / "store" / shard_name("tiny_model", "mmlu_anatomy") / "plan.json"
    intact = json.loads(plan.read_text(encoding="utf-8"))
    plan.write_bytes(plan.read_bytes()[:50])
    resume(tiny_study[0], run)
    assert json.loads(plan.read_text(encoding="utf-8")) == intact
    assert records(run) == before


def test_lost_items_are_recomputed_on_resume(tiny_study: tuple[dict[str, Any], Path], tmp_path: Path) -> None:
    run = copy_of(tiny_study, tmp_path)
    before = records(run)
    cut_items(run / "store" / shard_name("tiny model", "mmlu_anatomy") / "predictions.jsonl", 2)
    report_refused(run, "4 of 6 test items stored")
    resume(tiny_study[0], run)
    assert records(run) == before and report_json(run)["integrity"]["complete"] is True


def test_deleted_prompts_file_is_rebuilt_on_resume(tiny_study: tuple[dict[str, Any], Path], tmp_path: Path) -> None:
    run = copy_of(tiny_study, tmp_path)
    before = records(run)
    prompts = run / "store" / shard_name("tiny model", "mmlu_anatomy") / "prompts.jsonl"
    intact = sorted(prompts.read_bytes().splitlines())
    prompts.unlink()
    report_refused(run, "prompts.jsonl lacks", "medadapt run")
    resume(tiny_study[0], run)
    assert sorted(prompts.read_bytes().splitlines()) == intact
    assert records(run) == before and report_json(run)["integrity"]["complete"] is True


def test_stale_temporary_files_are_swept_on_resume(tiny_study: tuple[dict[str, Any], Path], tmp_path: Path) -> None:
    run = copy_of(tiny_study, tmp_path)
    stale = [run / ".study.yaml.tmp", run / ".manifest.json.tmp-99", run / "report" / ".report.html.x1.tmp",
             run / "store" / shard_name("tiny_model", "mmlu_anatomy") / ".plan.json.tmp-7"]
    for path in stale:
        path.write_text("half", encoding="utf-8")
    resume(tiny_study[0], run)
    assert not any(p.exists() for p in stale)


def test_corrupt_study_file_is_rebuilt_on_resume(tiny_study: tuple[dict[str, Any], Path], tmp_path: Path) -> None:
    run = copy_of(tiny_study, tmp_path)
    before = records(run)
    study = run / "study.yaml"
    intact = study.read_bytes()
    study.write_text("name: faults\npairs: [\n", encoding="utf-8")
    report_refused(run, "study.yaml:3", "damaged")
    resume(tiny_study[0], run)
    assert study.read_bytes() == intact and records(run) == before


def test_corrupt_study_file_and_manifest_are_refused(tiny_study: tuple[dict[str, Any], Path], tmp_path: Path) -> None:
    run = copy_of(tiny_study, tmp_path)
    before = records(run)
    (run / "study.yaml").write_text("name: faults\npairs: [\n", encoding="utf-8")
    (run / "manifest.json").write_text("{", encoding="utf-8")
    with pytest.raises(StudyError, match=r"study\.yaml:\d+: the run's study file is damaged"):
        resume(tiny_study[0], run)
    assert records(run) == before


def test_run_ends_with_the_store_check(tiny_study: tuple[dict[str, Any], Path], tmp_path: Path) -> None:
    """A conflict the run cannot repair (two answers for one item) makes `medadapt run` itself refuse the report."""
    run = copy_of(tiny_study, tmp_path)
    path = run / "store" / shard_name("tiny_model", "mmlu_anatomy") / "predictions.jsonl"
    record = json.loads(path.read_bytes().splitlines()[0])
    record["correct"], record["pred"] = not record["correct"], "Z"
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")
    before = records(run)
    with pytest.raises(StudyError, match="1 conflicting records"):
        resume(tiny_study[0], run)
    assert records(run) == before
