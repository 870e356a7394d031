"""Checks a study before anything is written: known tasks, resolvable models, readable data files."""

from __future__ import annotations

from typing import Any

from medadapt.study.config import ModelRef, StudyConfig
from medadapt.study.errors import StudyError
from medadapt.study.model_identity import resolve_spec
from medadapt.study.task_data import TaskSplits, load_study_task


def check_tasks(config: StudyConfig) -> None:
    """Every task and fine-tuning task is in the medadapt-prompts registry."""
    from medadapt.prompts import list_tasks

    known = list_tasks()
    setting_tasks = [t for s in config.settings for t in (s.tasks or [])]
    for where, names in (("tasks", config.tasks), ("finetune.tasks", config.finetune.tasks),
                         ("settings[].tasks", setting_tasks)):
        for index, name in enumerate(names):
            if name not in known:
                raise StudyError(f"{where}[{index}]: unknown task {name!r}; known tasks: {', '.join(known)}")


def check_models(config: StudyConfig) -> dict[str, Any]:
    """Every model resolves to a registry entry or a checkpoint directory; return the specs by label."""
    from pathlib import Path

    specs = {}
    for ref in config.models():
        try:
            specs[ref.label] = resolve_spec(ref)
        except FileNotFoundError as exc:
            raise StudyError(f"model {ref.label!r}: {exc}") from None
        if ref.lora is not None and not Path(ref.lora).is_dir():
            raise StudyError(f"model {ref.label!r}: LoRA adapter directory not found: {ref.lora}")
        check_execution(config, ref, specs[ref.label])
    return specs


def check_execution(config: StudyConfig, ref: ModelRef, spec: Any) -> None:
    """The model's engine takes every execution option it is given (an error names them before any model loads)."""
    from medadapt.study.execution import adapter_options, resolve_engine
    from medadapt.study.model_job import execution_of

    execution = execution_of(config, ref)
    adapter_options(execution, resolve_engine(execution, spec), ref.label)


def check_data(config: StudyConfig) -> dict[str, TaskSplits]:
    """Every task's files load (a missing file is named) and k-shot settings have enough train examples."""
    if not config.data_dir.is_dir():
        raise StudyError(f"data_dir not found: {config.data_dir}")
    splits = {}
    for task in config.tasks:
        loaded = load_study_task(config, task)
        for setting in config.settings:
            if setting.applies_to(task) and setting.shots > len(loaded.train):
                raise StudyError(
                    f"settings: {setting.name} needs {setting.shots} train examples; task {task!r} has {len(loaded.train)}"
                )
        splits[task] = loaded
    return splits


def check_embedder(config: StudyConfig) -> None:
    """The kNN embedder the config names can be made (only checked when kNN picks the demos)."""
    from medadapt.prompts import get_embedder

    if config.prompt_selection.shot_method == "knn":
        try:
            get_embedder(config.prompt_selection.knn_embedder)
        except ValueError as exc:
            raise StudyError(f"prompt_selection.knn_embedder: {exc}") from None


def preflight(config: StudyConfig) -> dict[str, TaskSplits]:
    """All checks, in the order a user would fix them."""
    check_tasks(config)
    check_embedder(config)
    check_models(config)
    return check_data(config)
