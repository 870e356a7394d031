"""Plan: the model jobs of a study, in the order their dependencies need (medical models before their bases)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from medadapt.study.config import ModelRef, StudyConfig, config_to_dict
from medadapt.study.model_job import ModelJob


@dataclass(frozen=True)
class Wave:
    """Jobs that can run in parallel; a wave starts when the previous one is done."""

    name: str
    jobs: tuple[ModelJob, ...]


def counterparts_of(config: StudyConfig, general: ModelRef) -> list[ModelRef]:
    """Every medical counterpart of a general model (all of them: the study used only the first, docs/protocol.md#medopt)."""
    found: dict[str, ModelRef] = {}
    for pair in config.pairs:
        if pair.general.label == general.label:
            found.setdefault(pair.medical.label, pair.medical)
    return list(found.values())


def plan_waves(config: StudyConfig, run_dir: Path, *, split_tasks: bool) -> list[Wave]:
    """Medical models, then general models (with medopt against each counterpart).

    `split_tasks` makes one job per (model, task) — what the Ray executor schedules; the local executor keeps one
    job per model so each model is loaded once for all its tasks.
    """
    data = config_to_dict(config)
    medical_labels = {p.medical.label for p in config.pairs}
    waves = []
    for name, is_medical in (("medical", True), ("general", False)):
        jobs = []
        for ref in config.models():
            if (ref.label in medical_labels) != is_medical:
                continue
            counterparts = () if is_medical or not config.medopt else tuple(
                c.model_dump(mode="json") for c in counterparts_of(config, ref)
            )
            task_groups = [(t,) for t in config.tasks] if split_tasks else [tuple(config.tasks)]
            for tasks in task_groups:
                jobs.append(
                    ModelJob(
                        run_dir=str(run_dir),
                        config=data,
                        model=ref.model_dump(mode="json"),
                        tasks=tasks,
                        counterparts=counterparts,
                    )
                )
        waves.append(Wave(name=name, jobs=tuple(jobs)))
    return waves
