"""The plan: medical models first; a general model's medopt runs against EVERY counterpart (the study: first only)."""

from __future__ import annotations

from pathlib import Path

from medadapt.study.config import StudyConfig, parse_config
from medadapt.study.study_plan import plan_waves


def config_with_two_counterparts(tmp_path: Path, medopt: bool = True) -> StudyConfig:
    data = {
        "data_dir": str(tmp_path),
        "pairs": [
            {"general": "llama-2-70b", "medical": "meditron-70b"},
            {"general": "llama-2-70b", "medical": "clinical-camel-70b"},
            {"general": "llama-2-7b", "medical": "meditron-7b"},
        ],
        "tasks": ["medqa", "pubmedqa"],
        "medopt": medopt,
    }
    return parse_config(data, source="test", base=tmp_path)


def test_local_plan_loads_each_model_once_medical_first(tmp_path: Path) -> None:
    waves = plan_waves(config_with_two_counterparts(tmp_path), tmp_path, split_tasks=False)
    assert [w.name for w in waves] == ["medical", "general"]
    assert [j.model["name"] for j in waves[0].jobs] == ["meditron-70b", "clinical-camel-70b", "meditron-7b"]
    general = {j.model["name"]: j for j in waves[1].jobs}
    assert list(general) == ["llama-2-70b", "llama-2-7b"]
    assert all(j.tasks == ("medqa", "pubmedqa") for w in waves for j in w.jobs)
    assert [c["name"] for c in general["llama-2-70b"].counterparts] == ["meditron-70b", "clinical-camel-70b"]
    assert [c["name"] for c in general["llama-2-7b"].counterparts] == ["meditron-7b"]


def test_ray_plan_has_one_job_per_model_and_task(tmp_path: Path) -> None:
    waves = plan_waves(config_with_two_counterparts(tmp_path), tmp_path, split_tasks=True)
    assert len(waves[0].jobs) == 3 * 2 and len(waves[1].jobs) == 2 * 2
    assert all(len(j.tasks) == 1 for w in waves for j in w.jobs)


def test_no_medopt(tmp_path: Path) -> None:
    waves = plan_waves(config_with_two_counterparts(tmp_path, medopt=False), tmp_path, split_tasks=False)
    assert all(j.counterparts == () for j in waves[1].jobs)
