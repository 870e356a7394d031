"""A small run's directory holds exactly what `run_dir` declares: every file where run_dir's names and paths say,
and nothing any module placed under a name of its own."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from medadapt.study import run_dir as layout
from medadapt.study.config import parse_config
from medadapt.study.demo import demo_config
from medadapt.study.runner import execute_study
from medadapt.study.shard_plan import read_shard_plan


@pytest.fixture(scope="module")
def small_run(tiny_models: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    general, medical = tiny_models
    data = demo_config(general, medical, tiny=True)
    data.update(finetune={"enabled": False}, tasks=["mmlu_anatomy"], settings=["zero-shot"], decodings=["constrained"])
    config = parse_config(data, source="layout test", base=Path.cwd())
    return execute_study(config, tmp_path_factory.mktemp("layout") / "run", console=Console(quiet=True))


def test_top_level_names_are_run_dirs(small_run: Path) -> None:
    declared = {layout.STUDY_FILE, layout.MANIFEST_FILE, layout.HISTORY_FILE, layout.LOGS_DIR, layout.STORE_DIR,
                layout.REPORT_DIR, layout.FINETUNE_DIR, layout.REHEARSAL_DIR}
    assert {p.name for p in small_run.iterdir()} <= declared
    for name in (layout.STUDY_FILE, layout.MANIFEST_FILE):
        assert (small_run / name).is_file(), name
    assert layout.log_file(small_run).is_file()
    tables = (layout.ACCURACY_CSV, layout.COMPARISONS_CSV, layout.RATES_CSV, layout.PROMPT_SENSITIVITY_CSV,
              layout.HEADLINE_CSV, layout.VERDICT_CONTEXT_CSV)
    for name in (layout.REPORT_JSON, layout.REPORT_HTML, *tables):
        assert (layout.report_dir(small_run) / name).is_file(), name


def test_store_shards_are_where_run_dir_says(small_run: Path) -> None:
    shards = {layout.shard_name(label, "mmlu_anatomy") for label in ("tiny-general", "tiny-medical")}
    assert {p.name for p in layout.store_dir(small_run).iterdir()} == shards
    for shard in shards:
        folder = layout.shard_dir(small_run, shard)
        assert {p.name for p in folder.iterdir()} == {
            layout.UNITS_FILE, layout.PREDICTIONS_FILE, layout.PROMPTS_FILE, layout.PLAN_FILE,
        }
        plan = read_shard_plan(small_run, shard)
        assert plan is not None and plan.entries and plan.task == "mmlu_anatomy"


def test_shard_names_stay_distinct_and_safe() -> None:
    assert layout.shard_name("tiny-general", "pubmedqa") == "tiny-general--pubmedqa"
    odd = {layout.shard_name(label, "t") for label in ("a b", "a_b", "a/b")}
    assert len(odd) == 3 and all("/" not in name and " " not in name for name in odd)
    assert layout.finetune_dir(Path("r"), "m", "t") == Path("r") / layout.FINETUNE_DIR / "m--t"
