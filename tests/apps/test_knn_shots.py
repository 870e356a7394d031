"""kNN few-shot in a study: one index per task, the embedder from the config, no candidate scored twice."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

import medadapt.prompts
from medadapt.study.config import parse_config
from medadapt.study.demo import packaged_path
from medadapt.study.errors import StudyError
from medadapt.study.runner import execute_study
from medadapt.study.store import read_store


def knn_study(general: Path, medical: Path, **selection: Any) -> Any:
    data = {
        "name": "knn",
        "data_dir": str(packaged_path("demo_data")),
        "pairs": [{"general": {"path": str(general), "prompt_style": "chat"},
                   "medical": {"path": str(medical), "prompt_style": "chat"}}],
        "tasks": ["mmlu_anatomy"],
        "settings": ["zero-shot", "3-shot", "2-shot"],
        "decodings": ["constrained"],
        "prompt_selection": {"mode": "model-specific", "n_formats": 1, "n_shot_seeds": 3, "max_val_items": 3,
                             "shot_method": "knn", **selection},
        "medopt": False,
        "statistics": {"n_resamples": 200},
        "limits": {"max_test_items": 4, "batch_size": 4},
    }
    return parse_config(data, source="knn test", base=Path.cwd())


def test_knn_index_fitted_once_per_task_and_seeds_collapsed(
    tiny_models: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fitted: list[int] = []
    real = medadapt.prompts.ShotIndex

    class CountingIndex(real):  # type: ignore[misc,valid-type]
        def __init__(self, pool: Any, embedder: Any = None) -> None:
            fitted.append(len(pool))
            super().__init__(pool, embedder)

    monkeypatch.setattr(medadapt.prompts, "ShotIndex", CountingIndex)
    run = execute_study(knn_study(*tiny_models), tmp_path / "run", console=Console(quiet=True))
    assert len(fitted) == 2  # one per (model, task) job, shared by the 3-shot and 2-shot settings
    plan = json.loads((run / "store" / "tiny-medical--mmlu_anatomy" / "plan.json").read_text())
    for entry in plan["entries"]:
        labels = [c["label"] for c in entry["candidates"]]
        assert labels == ["default", "format 0"], labels  # 3 shot seeds would give identical kNN demos
    view = read_store(run)
    few_shot = [u for u in view.units.values() if u["shots"] > 0]
    assert few_shot and all(u["knn_embedder"] == "tfidf" and u["prompt"]["shot_seed"] is None for u in few_shot)
    assert all("knn_embedder" not in u for u in view.units.values() if u["shots"] == 0)


def test_unknown_embedder_is_a_config_error(tiny_models: tuple[Path, Path], tmp_path: Path) -> None:
    with pytest.raises(StudyError, match=r"prompt_selection\.knn_embedder: unknown embedder 'bert'"):
        execute_study(knn_study(*tiny_models, knn_embedder="bert"), tmp_path / "run", console=Console(quiet=True))
    assert not (tmp_path / "run").exists()
