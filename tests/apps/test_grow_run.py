"""Growing a run directory (new tasks and pairs reuse every finished unit), `--only` subsets, `medadapt status`, and
the prediction cache shared between run directories."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console
from typer.testing import CliRunner

from medadapt.study import model_job
from medadapt.study.cli import app
from medadapt.study.config import config_to_dict, parse_config
from medadapt.study.demo import packaged_path
from medadapt.study.errors import StudyError
from medadapt.study.growth import parse_only
from medadapt.study.run_dir import HISTORY_FILE
from medadapt.study.runner import execute_study, read_run_config
from medadapt.study.store import read_store


class ScoredItems:
    """Counts the items the real adapters score or generate (wraps `load_model`; the adapters do the work)."""

    def __init__(self) -> None:
        self.items = 0

    def wrap(self, adapter: Any) -> Any:
        counter = self

        class Counting:
            def __getattr__(self, name: str) -> Any:
                return getattr(adapter, name)

            def score_options(self, inputs: Any, tokens: Any) -> Any:
                counter.items += len(inputs)
                return adapter.score_options(inputs, tokens)

            def generate(self, inputs: Any, *args: Any) -> Any:
                counter.items += len(inputs)
                return adapter.generate(inputs, *args)

        return Counting()


@pytest.fixture
def scored(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScoredItems]:
    counter = ScoredItems()
    real = model_job.load_model
    monkeypatch.setattr(model_job, "load_model", lambda *args: counter.wrap(real(*args)))
    yield counter


@pytest.fixture(scope="module")
def third_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from medadapt.models.testing import build_tiny_causal_lm

    return build_tiny_causal_lm(tmp_path_factory.mktemp("tiny-other") / "tiny-other", family="llama", seed=1)


def study(models: list[tuple[Path, Path]], tasks: list[str], **extra: Any) -> Any:
    data = {
        "name": "grow",
        "data_dir": str(packaged_path("demo_data")),
        "pairs": [
            {"general": {"path": str(g), "prompt_style": "chat"}, "medical": {"path": str(m), "prompt_style": "chat"}}
            for g, m in models
        ],
        "tasks": tasks,
        "settings": ["zero-shot"],
        "decodings": ["constrained"],
        "prompt_selection": {"mode": "model-specific", "n_formats": 1, "max_val_items": 3},
        "statistics": {"n_resamples": 200},
        "limits": {"max_test_items": 5, "batch_size": 4},
        **extra,
    }
    return parse_config(data, source="grow test", base=Path.cwd())


def shard_bytes(run: Path) -> dict[str, bytes]:
    return {p.parent.name: p.read_bytes() for p in (run / "store").glob("*/predictions.jsonl")}


def record_count(run: Path) -> int:
    return sum(len(v) for v in read_store(run).predictions.values())


def test_grown_config_computes_only_new_units(
    tiny_models: tuple[Path, Path], third_model: Path, tmp_path: Path, scored: ScoredItems
) -> None:
    general, medical = tiny_models
    run = tmp_path / "run"
    quiet = Console(quiet=True)
    execute_study(study([(general, medical)], ["mmlu_anatomy"]), run, console=quiet)
    first_records = record_count(run)
    assert scored.items == first_records > 0
    before = shard_bytes(run)

    scored.items = 0
    grown = study([(general, medical), (general, third_model)], ["mmlu_anatomy", "medqa-usmle"])
    config_file = tmp_path / "grown.yaml"
    config_file.write_text(yaml.safe_dump(config_to_dict(grown)), encoding="utf-8")
    result = CliRunner().invoke(app, ["run", str(config_file), "--out", str(run)])
    assert result.exit_code == 0, result.output

    # Every scored item became a new record: nothing finished before was scored again.
    assert scored.items == record_count(run) - first_records > 0
    after = shard_bytes(run)
    assert after["tiny-medical--mmlu_anatomy"] == before["tiny-medical--mmlu_anatomy"]
    for shard, old in before.items():
        assert after[shard].startswith(old), f"{shard}: old records were rewritten"
    assert {"tiny-other--mmlu_anatomy", "tiny-other--medqa-usmle", "tiny-medical--medqa-usmle"} <= set(after)

    report = json.loads((run / "report" / "report.json").read_text())
    cells = {(c["medical"], c["task"], c["variant"]) for c in report["comparisons"]}
    for med in ("tiny-medical", "tiny-other"):
        for task in ("mmlu_anatomy", "medqa-usmle"):
            assert (med, task, "own prompts") in cells and (med, task, "medopt") in cells
    history = [json.loads(line) for line in (run / HISTORY_FILE).read_text().splitlines()]
    assert history[0]["changed"] == ["created"] and set(history[1]["changed"]) == {"pairs", "tasks"}
    assert read_run_config(run).tasks == ["mmlu_anatomy", "medqa-usmle"]

    scored.items = 0
    execute_study(grown, run, console=quiet)
    assert scored.items == 0 and shard_bytes(run) == after

    result = CliRunner().invoke(app, ["status", str(run)])
    assert result.exit_code == 0, result.output
    assert "nothing left to run" in result.output
    assert "test units done: 10/10" in result.output  # 2 tasks × (2 medical own + general own + 2 medopt)


def test_irreconcilable_change_is_refused(tiny_models: tuple[Path, Path], tmp_path: Path) -> None:
    general, medical = tiny_models
    run = tmp_path / "run"
    execute_study(study([(general, medical)], ["mmlu_anatomy"]), run, console=Console(quiet=True))
    lowered = study([(general, medical)], ["mmlu_anatomy"], limits={"max_test_items": 3, "batch_size": 4})
    with pytest.raises(StudyError, match="max_test_items lowered"):
        execute_study(lowered, run, console=Console(quiet=True))


def test_only_runs_a_subset_and_status_shows_the_rest(
    tiny_models: tuple[Path, Path], tmp_path: Path, scored: ScoredItems
) -> None:
    general, medical = tiny_models
    run = tmp_path / "run"
    config = study([(general, medical)], ["mmlu_anatomy", "medqa-usmle"])
    execute_study(config, run, console=Console(quiet=True), only=parse_only("tasks=medqa-usmle,models=tiny-medical"))
    assert {p.parent.name for p in (run / "store").glob("*/plan.json")} == {"tiny-medical--medqa-usmle"}
    assert scored.items == record_count(run) > 0

    result = CliRunner().invoke(app, ["status", str(run)])
    assert result.exit_code == 0, result.output
    assert "test units done: 1/6" in result.output  # 2 tasks × (medical own, general own, medopt)
    assert "left: 5 test units" in result.output


def test_only_rejects_unknown_names() -> None:
    with pytest.raises(StudyError, match="unknown field 'task'"):
        parse_only("task=medqa-usmle")
    assert parse_only("tasks=a,b,settings=zero-shot").tasks == ("a", "b")


def test_second_run_dir_scores_nothing_already_cached(
    tiny_models: tuple[Path, Path], tmp_path: Path, scored: ScoredItems
) -> None:
    general, medical = tiny_models
    cache = tmp_path / "prediction-cache"
    quiet = Console(quiet=True)
    first = execute_study(study([(general, medical)], ["mmlu_anatomy"], cache_dir=str(cache)), tmp_path / "a", console=quiet)
    scored_first = scored.items
    assert scored_first == record_count(first) > 0
    assert list(cache.glob("*/*/*.jsonl"))

    scored.items = 0
    overlapping = study([(general, medical)], ["mmlu_anatomy", "medqa-usmle"], cache_dir=str(cache))
    second = execute_study(overlapping, tmp_path / "b", console=quiet)
    new_units = record_count(second) - record_count(first)
    assert scored.items == new_units > 0  # only medqa-usmle was scored; mmlu_anatomy came from the cache
    a, b = shard_bytes(first), shard_bytes(second)
    for shard in a:
        old = [json.loads(x) for x in a[shard].splitlines()]
        new = [json.loads(x) for x in b[shard].splitlines()]
        assert old == new, shard


def test_restrict_keeps_fine_tuning_to_its_own_tasks(tiny_models: tuple[Path, Path]) -> None:
    from medadapt.study.growth import restrict

    general, medical = tiny_models
    config = study([(general, medical)], ["mmlu_anatomy", "medqa-usmle"],
                   finetune={"enabled": True, "tasks": ["mmlu_anatomy"]})
    assert not restrict(config, parse_only("tasks=medqa-usmle")).finetune.enabled
    kept = restrict(config, parse_only("tasks=mmlu_anatomy,settings=zero-shot"))
    assert kept.finetune.enabled and kept.finetune.tasks == ["mmlu_anatomy"]
    with pytest.raises(StudyError, match="--only settings: 5-shot not in the config"):
        restrict(config, parse_only("settings=5-shot"))


def test_a_change_that_alters_results_gets_new_keys(
    tiny_models: tuple[Path, Path], tmp_path: Path, scored: ScoredItems
) -> None:
    general, medical = tiny_models
    run = tmp_path / "run"
    quiet = Console(quiet=True)
    execute_study(study([(general, medical)], ["mmlu_anatomy"]), run, console=quiet)
    before = shard_bytes(run)
    old_keys = set(read_store(run).units)
    scored.items = 0
    execute_study(study([(general, medical)], ["mmlu_anatomy"], option_policy="study"), run, console=quiet)
    new_keys = set(read_store(run).units) - old_keys
    assert new_keys and scored.items > 0  # the scoring rule is in the run key: everything is scored again
    assert all(read_store(run).units[k]["option_policy"] == "study" for k in new_keys)
    for shard, old in before.items():
        assert shard_bytes(run)[shard].startswith(old)
    report = json.loads((run / "report" / "report.json").read_text())
    assert {c["key_medical"] for c in report["comparisons"]} <= new_keys


def test_run_only_with_a_bad_field_is_one_line_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["run", str(tmp_path / "study.yaml"), "--only", "task=medqa-usmle"])
    assert result.exit_code == 2
    assert "unknown field 'task'; allowed: tasks, models, settings, decodings" in result.output
