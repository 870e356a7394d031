"""Optional fine-tuning: a LoRA sweep of both models of every pair (medadapt-finetune), then evaluation of the best
trial zero-shot on the test split, as the study's regime (docs/protocol.md#fine-tuning)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from medadapt.study.candidates import PromptChoice
from medadapt.study.config import ModelRef, Setting, StudyConfig
from medadapt.study.run_dir import finetune_dir
from medadapt.study.shard_plan import Variant

if TYPE_CHECKING:
    from medadapt.models import ModelSpec

log = logging.getLogger("medadapt.study")

FT_SETTING = "fine-tuned"


def finetuned_label(model: str, task: str) -> str:
    """The name a fine-tuned model carries in tables and shard names."""
    return f"{model}+lora-{task}"


def finetune_style(spec: ModelSpec) -> str:
    """The prompt style a model is fine-tuned and evaluated with (some styles name a distinct fine-tuning one)."""
    from medadapt.prompts import get_prompt_style
    from medadapt.study.model_job import is_chat, prompt_style_of

    style = prompt_style_of(spec)
    alternative = getattr(get_prompt_style(style), "finetune_style", None)
    return str(alternative) if alternative and not is_chat(spec) else style


def finetune_tasks(config: StudyConfig) -> list[str]:
    """Tasks to fine-tune on: those listed, else every study task."""
    return list(config.finetune.tasks) or list(config.tasks)


def run_finetune_phase(config: StudyConfig, run_dir: Path, console: Console) -> None:
    """Sweep, select by validation loss, evaluate; each step resumes from what the run directory holds."""
    from medadapt.study.finetune_progress import sweep_callback
    from medadapt.study.progress_bars import bar_advance, progress_bar

    n_trials = len(config.finetune.ranks) * len(config.finetune.learning_rates)
    with progress_bar(console) as progress:
        advance = bar_advance(progress)
        for ref in config.models():
            for task in finetune_tasks(config):
                callback = sweep_callback(progress, finetuned_label(ref.label, task), n_trials)
                _finetune_one(config, run_dir, ref, task, callback, advance)
                callback.finish()


def _finetune_one(
    config: StudyConfig, run_dir: Path, ref: ModelRef, task: str, callback: Any, advance: Any
) -> None:
    """Sweep one model on one task, then evaluate its best trial zero-shot on the test split."""
    from medadapt.finetune import SweepSpec, TrainingSpec, run_sweep, training_pairs
    from medadapt.study.execution import resolve_engine, result_identity
    from medadapt.study.model_identity import model_identity, resolve_spec
    from medadapt.study.model_job import (
        TaskGrid,
        execution_of,
        is_chat,
        load_model,
        run_model_task,
        skip_reason,
    )
    from medadapt.study.task_data import load_study_task

    ft = config.finetune
    spec = resolve_spec(ref)
    if skip_reason(spec, task) is not None:
        return
    execution = execution_of(config, ref)
    label = finetuned_label(ref.label, task)
    splits = load_study_task(config, task)
    out_dir = finetune_dir(run_dir, ref.label, task)
    log.info("fine-tuning %s on %s: %d×%d trials", ref.label, task, len(ft.ranks), len(ft.learning_rates))
    sweep = SweepSpec(
        ranks=tuple(ft.ranks),
        learning_rates=tuple(ft.learning_rates),
        training=TrainingSpec(max_epochs=ft.max_epochs, batch_size=ft.batch_size),
    )
    result = run_sweep(
        spec,
        training_pairs(splits.train, spec, study_bugs=config.study_compat),
        training_pairs(splits.val, spec, study_bugs=config.study_compat),
        out_dir,
        sweep,
        name=label,
        progress=False,
        callbacks=[callback],
        # As over-long test prompts are left out of a comparison: not a reason to stop the study; the cap counts
        # the examples that fit.
        overlong="drop",
        max_train_examples=ft.max_train_items,
    )
    ft_spec = result.registry_entry
    ft_ref = ModelRef(name=label)
    identity = model_identity(ft_ref, ft_spec, result_identity(execution, resolve_engine(execution, ft_spec)))
    adapter = load_model(ft_ref, ft_spec, execution)
    try:
        # The prompt it was trained on (docs/protocol.md, fine-tuning): its default template, no system prompt,
        # no demos.
        choice = PromptChoice(style=finetune_style(spec), chat=is_chat(spec), system_prompt=None, shot_seed=None)
        run_model_task(
            Path(run_dir),
            config,
            ft_ref,
            ft_spec,
            identity,
            adapter,
            splits,
            (),
            variant=Variant.FINE_TUNED,
            grid=TaskGrid(settings=[Setting(name=FT_SETTING, shots=0)], decodings=ft.decodings, forced_choice=choice),
            advance=advance,
        )
    finally:
        close = getattr(adapter, "close", None)
        if close is not None:
            close()

