"""One model's share of a study: loaded once, it runs prompt selection, test and medopt units for its tasks."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from medadapt.study.candidates import PromptChoice, candidate_grid
from medadapt.study.config import ModelRef, PromptSelection, Setting, StudyConfig
from medadapt.study.engine import OptionTokenCache, PromptBuilder, UnitSpec, run_unit
from medadapt.study.errors import StudyError
from medadapt.study.execution import Execution, adapter_options, resolve_engine, result_identity
from medadapt.study.growth import keep_previous_entries
from medadapt.study.model_identity import model_identity, resolve_spec
from medadapt.study.packed_units import PackedUnit, packs, run_packed
from medadapt.study.prediction_cache import cache_root as prediction_cache_root
from medadapt.study.run_dir import shard_name
from medadapt.study.selection import select_prompt
from medadapt.study.shard_plan import PlanEntry, ShardPlan, Variant, read_shard_plan, write_shard_plan
from medadapt.study.store import ShardWriter
from medadapt.study.task_data import TaskSplits, load_study_task

log = logging.getLogger("medadapt.study")

Advance = Callable[[str, int, int], None]
"""Progress callback: (description, completed in this step, total of this step)."""


@dataclass(frozen=True)
class ModelJob:
    """Everything a worker needs to run one model on some tasks (plain data: it travels to Ray workers)."""

    run_dir: str
    config: dict[str, Any]
    model: dict[str, Any]
    tasks: tuple[str, ...]
    counterparts: tuple[dict[str, Any], ...] = field(default=())
    spec_override: dict[str, Any] | None = None

    @property
    def study(self) -> StudyConfig:
        return StudyConfig.model_validate(self.config)

    @property
    def ref(self) -> ModelRef:
        return ModelRef.model_validate(self.model)


def execution_of(study: StudyConfig, ref: ModelRef) -> Execution:
    """A model's execution settings: its own, the unset ones from the study's."""
    return ref.execution.over(study.execution) if ref.execution is not None else study.execution


def skip_reason(spec: Any, task: str) -> str | None:
    """Why a model does not run on a task (its registry or config `skip_tasks`), or None when it does."""
    from fnmatch import fnmatchcase

    patterns = tuple(getattr(spec, "skip_tasks", ()) or ())
    if not any(fnmatchcase(task, pattern) for pattern in patterns):
        return None
    reason = getattr(spec, "skip_reason", "") or "skip_tasks"
    return f"{getattr(spec, 'name', '?')} skips {task}: {reason}"


def candidates_of(spec: Any) -> str:
    """The templates prompt selection may pick for a model: "grid" (default + grammar samples) or "default-only"."""
    return str(getattr(spec, "prompt_candidates", None) or "grid")


def load_model(ref: ModelRef, spec: Any, execution: Execution | None = None) -> Any:
    """Load the adapter of a study model (once per job) with its engine and execution options."""
    from medadapt.models import load_adapter

    execution = execution or Execution()
    engine = resolve_engine(execution, spec)
    options = adapter_options(execution, engine, ref.label)
    log.info("loading model %s from %s with engine %s %s", ref.label, getattr(spec, "hf_id_or_path", "?"), engine,
             options or "")
    return load_adapter(spec, adapter=engine, **options)


def run_model_job(job: ModelJob, advance: Advance | None = None) -> list[str]:
    """Run every task of the job on one loaded model; return the shards written. Skipped tasks load nothing."""
    study = job.study
    ref = job.ref
    spec = resolve_spec(ref)
    tasks = [t for t in job.tasks if skip_reason(spec, t) is None]
    if not tasks:
        return []
    execution = execution_of(study, ref)
    identity = model_identity(ref, spec, result_identity(execution, resolve_engine(execution, spec)))
    adapter = load_model(ref, spec, execution)
    shards = []
    try:
        for task in tasks:
            splits = load_study_task(study, task)
            counterparts = [
                c for c in (ModelRef.model_validate(c) for c in job.counterparts)
                if skip_reason(resolve_spec(c), task) is None
            ]
            shards.append(
                run_model_task(
                    Path(job.run_dir), study, ref, spec, identity, adapter, splits, counterparts, advance=advance
                )
            )
    finally:
        close = getattr(adapter, "close", None)
        if close is not None:
            close()
    return shards


def prompt_style_of(spec: Any) -> str:
    """The registry's prompt style of a model ('default' when it names none)."""
    return str(getattr(spec, "prompt_style", None) or "default")


def system_prompt_for(spec: Any, task: str) -> str | None:
    """The study's default system prompt of a model on a task (by its registry key, else its prompt style)."""
    from medadapt.prompts import default_system_prompt

    key = getattr(spec, "system_prompt_key", None) or prompt_style_of(spec)
    return default_system_prompt(key, task)


def is_chat(spec: Any) -> bool:
    """Whether the model's prompts go through its chat template."""
    return bool(getattr(spec, "chat", False))


def prompt_grid(
    selection: PromptSelection, spec: Any, task: str, shots: int, *, chat_template: str | None = None
) -> list[PromptChoice]:
    """A model's candidates on a task: its default prompt, then the grammar samples unless it is default-only.
    `chat_template` (the model's) is recorded in chat choices, for a model without one that borrows them (medopt)."""
    grid_formats = selection.mode == "model-specific" and candidates_of(spec) == "grid"
    return candidate_grid(
        selection, style=prompt_style_of(spec), system_prompt=system_prompt_for(spec, task), shots=shots,
        formats=grammar_formats(selection.n_formats) if grid_formats else [], chat=is_chat(spec),
        chat_template=chat_template,
    )


def grammar_formats(n: int) -> list[dict[str, Any]]:
    """The first n grammar samples (seeds 0..n-1) as data."""
    from medadapt.prompts import sample_format

    return [sample_format(seed).to_dict() for seed in range(n)]


class ShotPicker:
    """Few-shot demonstrations for a query: one seeded draw shared by every query (the study), or kNN per query
    from an index fitted once per task (the seed does not change kNN demos; see `knn_choices`)."""

    def __init__(
        self,
        train: Sequence[Any],
        shots: int,
        method: Literal["random", "knn"],
        index: Callable[[], Any] | None = None,
    ) -> None:
        self.train = list(train)
        self.shots = shots
        self.method = method
        self._index = index
        self._cache: dict[tuple[int | None, str | None], list[Any]] = {}

    def for_seed(self, seed: int | None) -> Callable[[Any], Sequence[Any]]:
        if self.shots == 0:
            return lambda example: ()
        if len(self.train) < self.shots:
            raise StudyError(f"{self.shots}-shot needs {self.shots} train examples, the task has {len(self.train)}")
        from medadapt.prompts import select_shots

        def pick(example: Any) -> Sequence[Any]:
            key = (None if self.method == "knn" else seed, example.id if self.method == "knn" else None)
            if key not in self._cache:
                if self.method == "knn" and self._index is not None:
                    self._cache[key] = self._index().select(example, self.shots)
                else:
                    self._cache[key] = list(
                        select_shots(self.train, example, self.shots, method=self.method, seed=seed or 0)
                    )
            return self._cache[key]

        return pick


def test_items(test: Sequence[Any], decoding: str, max_greedy_items: int | None) -> Sequence[Any]:
    """The test items of a unit: greedy decoding may be capped lower (it generates, so it costs several times more)."""
    return test[:max_greedy_items] if decoding == "greedy" and max_greedy_items is not None else test


def knn_index_factory(train: Sequence[Any], embedder: str) -> Callable[[], Any]:
    """A ShotIndex of the task's train pool, fitted on first use and then shared by every setting and candidate."""
    fitted: list[Any] = []

    def index() -> Any:
        if not fitted:
            from medadapt.prompts import ShotIndex, get_embedder

            try:
                model = get_embedder(embedder)
            except ValueError as exc:
                raise StudyError(f"prompt_selection.knn_embedder: {exc}") from None
            fitted.append(ShotIndex(train, model))
        return fitted[0]

    return index


def knn_choices(grid: Sequence[PromptChoice]) -> list[PromptChoice]:
    """kNN demos do not depend on the shot seed: candidates that differ only by it are one candidate."""
    from dataclasses import replace

    from medadapt.study.run_key import canonical_json

    unique: dict[str, PromptChoice] = {}
    for choice in grid:
        seedless = replace(choice, shot_seed=None)
        unique.setdefault(canonical_json(seedless.as_data()), seedless)
    return list(unique.values())


def run_model_task(
    run_dir: Path,
    study: StudyConfig,
    ref: ModelRef,
    spec: Any,
    identity: dict[str, Any],
    adapter: Any,
    splits: TaskSplits,
    counterparts: Sequence[ModelRef],
    *,
    variant: Variant = Variant.OWN,
    advance: Advance | None = None,
    settings: Sequence[Any] | None = None,
    decodings: Sequence[str] | None = None,
    forced_choice: PromptChoice | None = None,
) -> str:
    """Selection, test and medopt units of one (model, task) shard; writes the shard's plan file at the end."""
    task = splits.task
    shard = shard_name(ref.label, task)
    selection = study.prompt_selection
    builder = PromptBuilder(adapter, study.study_compat)
    option_tokens = OptionTokenCache(adapter.tokenizer, study.option_policy)
    batch_size = execution_of(study, ref).batch_size or study.limits.batch_size
    cache_root = prediction_cache_root(study.cache_dir)
    val_ids = [ex.id for ex in splits.val]
    entries: list[PlanEntry] = []

    knn_index = knn_index_factory(splits.train, selection.knn_embedder)

    def unit(split: str, shots: int, decoding: str, choice: PromptChoice, prompt_model: str) -> UnitSpec:
        return UnitSpec(
            model=identity,
            task=task,
            split=split,
            shots=shots,
            decoding=decoding,
            prompt=choice,
            prompt_model=prompt_model,
            option_policy=study.option_policy,
            extraction=study.extraction,
            max_new_tokens=study.limits.max_new_tokens,
            study_compat=study.study_compat,
            shot_method=selection.shot_method,
            knn_embedder=selection.knn_embedder if selection.shot_method == "knn" else None,
        )

    def progress(description: str, total: int) -> Callable[[int], None]:
        done = [0]

        def step(n: int) -> None:
            done[0] += n
            if advance is not None:
                advance(description, done[0], total)

        return step

    def evaluate_test(
        writer: ShardWriter,
        picker: ShotPicker,
        setting: Setting,
        decoding: str,
        choice: PromptChoice,
        prompt_model: str,
        *,
        variant: Variant,
        counterpart: str | None,
        candidates: list[dict[str, Any]],
        description: str,
        selection_summary: dict[str, Any] | None = None,
    ) -> None:
        """Run one prompt choice on the test split and record its entry in the shard plan."""
        test = test_items(splits.test, decoding, study.limits.max_greedy_items)
        key = run_unit(
            adapter, unit("test", setting.shots, decoding, choice, prompt_model), test,
            picker.for_seed(choice.shot_seed), writer,
            batch_size=batch_size, builder=builder, option_tokens=option_tokens, cache_root=cache_root,
            advance=progress(description, len(test)),
        )
        entries.append(
            PlanEntry(
                setting=setting.name, shots=setting.shots, decoding=decoding, variant=variant,
                counterpart=counterpart, key=key, choice=choice.as_data(), choice_label=choice.label,
                candidates=candidates, selection=selection_summary, n_items=len(test),
            )
        )

    with ShardWriter(run_dir, shard) as writer:
        for setting in settings if settings is not None else study.settings:
            if not setting.applies_to(task):
                continue
            picker = ShotPicker(splits.train, setting.shots, selection.shot_method, knn_index)
            for decoding in decodings if decodings is not None else study.decodings:
                where = f"{ref.label} · {task} · {setting.name} · {decoding}"
                candidates_out: list[dict[str, Any]] = []
                selection_summary: dict[str, Any] | None = None
                if forced_choice is not None:
                    chosen = forced_choice
                else:
                    grid = prompt_grid(selection, spec, task, setting.shots, chat_template=builder.chat_template)
                    if selection.shot_method == "knn":
                        grid = knn_choices(grid)
                    chosen = grid[0]
                    if len(grid) > 1:
                        if selection.strategy == "exhaustive" and packs(len(splits.val), batch_size):
                            packed = [
                                PackedUnit(unit("val", setting.shots, decoding, c, ref.label), splits.val,
                                           picker.for_seed(c.shot_seed))
                                for c in grid
                            ]
                            run_packed(adapter, packed, writer, batch_size=batch_size, builder=builder,
                                       option_tokens=option_tokens, cache_root=cache_root)
                        step = progress(f"select {where}", len(grid) * len(splits.val))

                        def score(
                            choice: PromptChoice, start: int, stop: int, shots: int = setting.shots,
                            decoding: str = decoding, picker: ShotPicker = picker, step: Callable[[int], None] = step,
                        ) -> tuple[str, list[bool]]:
                            u = unit("val", shots, decoding, choice, ref.label)
                            key = run_unit(
                                adapter, u, splits.val[start:stop], picker.for_seed(choice.shot_seed), writer,
                                batch_size=batch_size, builder=builder, option_tokens=option_tokens,
                                cache_root=cache_root, advance=step,
                            )
                            return key, writer.correctness(key, val_ids[start:stop])

                        outcome = select_prompt(grid, selection, len(val_ids), score, align=batch_size)
                        chosen = grid[outcome.chosen]
                        candidates_out = outcome.candidates
                        selection_summary = outcome.summary(chosen.label)
                evaluate_test(
                    writer, picker, setting, decoding, chosen, ref.label,
                    variant=variant, counterpart=None, candidates=candidates_out, description=f"test {where}",
                    selection_summary=selection_summary,
                )
                for counterpart in counterparts:
                    med_choice = _counterpart_choice(run_dir, counterpart, task, setting.name, decoding)
                    evaluate_test(
                        writer, picker, setting, decoding, med_choice, counterpart.label,
                        variant=Variant.MEDOPT, counterpart=counterpart.label, candidates=[],
                        description=f"medopt {where} ← {counterpart.label}",
                    )
    entries = keep_previous_entries(read_shard_plan(run_dir, shard), entries)
    write_shard_plan(
        run_dir,
        shard,
        ShardPlan(
            model=ref.label, task=task, variant=variant, entries=entries, carved=splits.carved,
            filtered=splits.filtered, n_test=len(splits.test), n_val=len(splits.val), n_train=len(splits.train),
        ),
    )
    return shard


def _counterpart_choice(run_dir: Path, counterpart: ModelRef, task: str, setting: str, decoding: str) -> PromptChoice:
    """The medical model's selected prompt for the same cell (its plan must exist: medical models run first)."""
    plan = read_shard_plan(run_dir, shard_name(counterpart.label, task))
    if plan is None:
        raise StudyError(f"medopt needs the plan of {counterpart.label} on {task}, which has not run yet")
    entry = plan.by_cell(Variant.OWN).get((setting, decoding))
    if entry is not None:
        return PromptChoice.from_data(entry.choice)
    raise StudyError(f"medopt: {counterpart.label} on {task} has no {setting}/{decoding} result")
