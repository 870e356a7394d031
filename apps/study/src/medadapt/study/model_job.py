"""One model's share of a study: loaded once, it runs prompt selection, test and medopt units for its tasks."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from medadapt.study.candidates import PromptChoice, candidate_grid
from medadapt.study.config import ModelRef, PromptSelection, Setting, StudyConfig
from medadapt.study.engine import OptionTokenCache, PromptBuilder, ShotsFor, UnitSpec, run_unit
from medadapt.study.errors import StudyError
from medadapt.study.execution import Execution, adapter_options, resolve_engine, result_identity
from medadapt.study.growth import keep_previous_entries
from medadapt.study.model_identity import model_identity, resolve_spec
from medadapt.study.packed_units import PackedUnit, packs, run_packed
from medadapt.study.prediction_cache import cache_root as prediction_cache_root
from medadapt.study.run_dir import shard_name
from medadapt.study.selection import select_prompt, validation_order
from medadapt.study.shard_plan import PlanEntry, ShardPlan, Variant, read_shard_plan, write_shard_plan
from medadapt.study.store import ShardWriter
from medadapt.study.task_data import TaskSplits, load_study_task

if TYPE_CHECKING:  # the models and prompts packages are imported where a job runs, not with the app
    from medadapt.models import Adapter, ModelSpec
    from medadapt.prompts import QAExample, ShotIndex

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


def skip_reason(spec: ModelSpec, task: str) -> str | None:
    """Why a model does not run on a task (its registry or config `skip_tasks`), or None when it does."""
    from fnmatch import fnmatchcase

    if not any(fnmatchcase(task, pattern) for pattern in spec.skip_tasks):
        return None
    return f"{spec.name} skips {task}: {spec.skip_reason or 'skip_tasks'}"


def candidates_of(spec: ModelSpec) -> str:
    """The templates prompt selection may pick for a model: "grid" (default + grammar samples) or "default-only"."""
    return spec.prompt_candidates


def load_model(ref: ModelRef, spec: ModelSpec, execution: Execution | None = None) -> Adapter:
    """Load the adapter of a study model (once per job) with its engine and execution options."""
    from medadapt.models import load_adapter

    execution = execution or Execution()
    engine = resolve_engine(execution, spec)
    options = adapter_options(execution, engine, ref.label)
    log.info("loading model %s from %s with engine %s %s", ref.label, spec.hf_id_or_path, engine,
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


def prompt_style_of(spec: ModelSpec) -> str:
    """The registry's prompt style of a model ('default' when it names none)."""
    return spec.prompt_style or "default"


def system_prompt_for(spec: ModelSpec, task: str) -> str | None:
    """The study's default system prompt of a model on a task (by its registry key, else its prompt style)."""
    from medadapt.prompts import default_system_prompt

    return default_system_prompt(spec.system_prompt_key or prompt_style_of(spec), task)


def is_chat(spec: ModelSpec) -> bool:
    """Whether the model's prompts go through its chat template."""
    return spec.chat


def prompt_grid(
    selection: PromptSelection, spec: ModelSpec, task: str, shots: int, *, chat_template: str | None = None
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
        train: Sequence[QAExample],
        shots: int,
        method: Literal["random", "knn"],
        index: Callable[[], ShotIndex] | None = None,
    ) -> None:
        self.train = list(train)
        self.shots = shots
        self.method = method
        self._index = index
        self._cache: dict[tuple[int | None, str | None], list[QAExample]] = {}

    def for_seed(self, seed: int | None) -> ShotsFor:
        """The demonstrations of each query under one shot seed (none for zero-shot)."""
        if self.shots == 0:
            return _no_shots
        if len(self.train) < self.shots:
            raise StudyError(f"{self.shots}-shot needs {self.shots} train examples, the task has {len(self.train)}")
        return partial(self._pick, seed)

    def _pick(self, seed: int | None, example: QAExample) -> Sequence[QAExample]:
        from medadapt.prompts import select_shots

        key = (None if self.method == "knn" else seed, example.id if self.method == "knn" else None)
        if key not in self._cache:
            if self.method == "knn" and self._index is not None:
                self._cache[key] = self._index().select(example, self.shots)
            else:
                self._cache[key] = list(
                    select_shots(self.train, example, self.shots, method=self.method, seed=seed or 0)
                )
        return self._cache[key]


def _no_shots(example: QAExample) -> Sequence[QAExample]:
    return ()


def test_items(test: Sequence[QAExample], decoding: str, max_greedy_items: int | None) -> Sequence[QAExample]:
    """The test items of a unit: greedy decoding may be capped lower (it generates, so it costs several times more)."""
    return test[:max_greedy_items] if decoding == "greedy" and max_greedy_items is not None else test


class KnnIndex:
    """A ShotIndex of the task's train pool, fitted on first use and then shared by every setting and candidate."""

    def __init__(self, train: Sequence[QAExample], embedder: str) -> None:
        self.train, self.embedder = train, embedder
        self._fitted: ShotIndex | None = None

    def __call__(self) -> ShotIndex:
        if self._fitted is None:
            from medadapt.prompts import ShotIndex, get_embedder

            try:
                model = get_embedder(self.embedder)
            except ValueError as exc:
                raise StudyError(f"prompt_selection.knn_embedder: {exc}") from None
            self._fitted = ShotIndex(self.train, model)
        return self._fitted


def knn_choices(grid: Sequence[PromptChoice]) -> list[PromptChoice]:
    """kNN demos do not depend on the shot seed: candidates that differ only by it are one candidate."""
    from dataclasses import replace

    from medadapt.study.run_key import canonical_json

    unique: dict[str, PromptChoice] = {}
    for choice in grid:
        seedless = replace(choice, shot_seed=None)
        unique.setdefault(canonical_json(seedless.as_data()), seedless)
    return list(unique.values())


@dataclass(frozen=True)
class TaskGrid:
    """Which cells a (model, task) shard runs: the study's settings and decodings, unless a phase narrows them
    (fine-tuning: one zero-shot setting, its own decodings, its training prompt forced instead of selected)."""

    settings: Sequence[Setting] | None = None
    decodings: Sequence[str] | None = None
    forced_choice: PromptChoice | None = None


@dataclass(frozen=True)
class TaskCell:
    """One (setting, decoding) of a shard, with its few-shot picker and its name in progress bars."""

    setting: Setting
    decoding: str
    picker: ShotPicker
    where: str


class _Progress:
    """Reports a step's completed items through the job's progress callback (a no-op without one)."""

    def __init__(self, advance: Advance | None, description: str, total: int) -> None:
        self.advance, self.description, self.total, self.done = advance, description, total, 0

    def __call__(self, n: int) -> None:
        self.done += n
        if self.advance is not None:
            self.advance(self.description, self.done, self.total)


class TaskRun:
    """Selection, test and medopt units of one (model, task) shard, as named steps: `cells` → `select` (scoring each
    candidate with `score_val`) → `evaluate_test` → `run_medopt` per cell, then `write_plan`."""

    def __init__(
        self, run_dir: Path, study: StudyConfig, ref: ModelRef, spec: ModelSpec, identity: dict[str, Any],
        adapter: Adapter, splits: TaskSplits, advance: Advance | None = None,
    ) -> None:
        self.run_dir, self.study, self.ref, self.spec, self.identity = Path(run_dir), study, ref, spec, identity
        self.adapter, self.splits, self.advance = adapter, splits, advance
        self.task = splits.task
        self.shard = shard_name(ref.label, self.task)
        self.selection = study.prompt_selection
        self.builder = PromptBuilder(adapter, study.study_compat)
        self.option_tokens = OptionTokenCache(adapter.tokenizer, study.option_policy)
        self.batch_size = execution_of(study, ref).batch_size or study.limits.batch_size
        self.cache_root = prediction_cache_root(study.cache_dir)
        self.val = validation_order(splits.val, self.selection)
        self.val_ids = [ex.id for ex in self.val]
        self.knn_index = KnnIndex(splits.train, self.selection.knn_embedder)
        self.entries: list[PlanEntry] = []

    def run(self, counterparts: Sequence[ModelRef], variant: Variant = Variant.OWN, grid: TaskGrid | None = None) -> str:
        """Every cell of the shard, then its plan; returns the shard's name."""
        grid = grid or TaskGrid()
        with ShardWriter(self.run_dir, self.shard) as writer:
            for cell in self.cells(grid):
                if grid.forced_choice is not None:
                    chosen, candidates, summary = grid.forced_choice, [], None
                else:
                    chosen, candidates, summary = self.select(writer, cell)
                self.evaluate_test(writer, cell, chosen, self.ref.label, variant=variant, counterpart=None,
                                   candidates=candidates, selection_summary=summary, description=f"test {cell.where}")
                self.run_medopt(writer, cell, counterparts)
        self.write_plan(variant)
        return self.shard

    def cells(self, grid: TaskGrid) -> Iterator[TaskCell]:
        """The (setting, decoding) cells that apply to the task, in config order."""
        for setting in grid.settings if grid.settings is not None else self.study.settings:
            if not setting.applies_to(self.task):
                continue
            picker = ShotPicker(self.splits.train, setting.shots, self.selection.shot_method, self.knn_index)
            for decoding in grid.decodings if grid.decodings is not None else self.study.decodings:
                yield TaskCell(setting, decoding, picker, f"{self.ref.label} · {self.task} · {setting.name} · {decoding}")

    def unit(self, split: str, shots: int, decoding: str, choice: PromptChoice, prompt_model: str) -> UnitSpec:
        """The unit of one split, prompt choice and decoding of this model on this task."""
        study, selection = self.study, self.selection
        return UnitSpec(
            model=self.identity, task=self.task, split=split, shots=shots, decoding=decoding, prompt=choice,
            prompt_model=prompt_model, option_policy=study.option_policy, extraction=study.extraction,
            max_new_tokens=study.limits.max_new_tokens, study_compat=study.study_compat,
            shot_method=selection.shot_method,
            knn_embedder=selection.knn_embedder if selection.shot_method == "knn" else None,
        )

    def select(self, writer: ShardWriter, cell: TaskCell) -> tuple[PromptChoice, list[dict[str, Any]], dict[str, Any] | None]:
        """The cell's prompt chosen on validation, each candidate's evidence and the selection summary (the default
        prompt, no evidence, when the model has one candidate)."""
        grid = prompt_grid(self.selection, self.spec, self.task, cell.setting.shots,
                           chat_template=self.builder.chat_template)
        if self.selection.shot_method == "knn":
            grid = knn_choices(grid)
        if len(grid) == 1:
            return grid[0], [], None
        if self.selection.strategy == "exhaustive" and packs(len(self.val), self.batch_size):
            self.score_packed(writer, cell, grid)
        step = _Progress(self.advance, f"select {cell.where}", len(grid) * len(self.val))
        score = partial(self.score_val, writer, cell, step)
        outcome = select_prompt(grid, self.selection, len(self.val_ids), score, align=self.batch_size)
        chosen = grid[outcome.chosen]
        return chosen, outcome.candidates, outcome.summary(chosen.label)

    def score_packed(self, writer: ShardWriter, cell: TaskCell, grid: Sequence[PromptChoice]) -> None:
        """Every candidate on every validation item in shared batches (units smaller than a batch); `score_val`
        then finds them stored."""
        packed = [
            PackedUnit(self.unit("val", cell.setting.shots, cell.decoding, c, self.ref.label), self.val,
                       cell.picker.for_seed(c.shot_seed))
            for c in grid
        ]
        run_packed(self.adapter, packed, writer, batch_size=self.batch_size, builder=self.builder,
                   option_tokens=self.option_tokens, cache_root=self.cache_root)

    def score_val(
        self, writer: ShardWriter, cell: TaskCell, step: _Progress, choice: PromptChoice, start: int, stop: int
    ) -> tuple[str, list[bool]]:
        """One candidate on validation items start..stop-1: its run key and per-item correctness."""
        unit = self.unit("val", cell.setting.shots, cell.decoding, choice, self.ref.label)
        key = run_unit(
            self.adapter, unit, self.val[start:stop], cell.picker.for_seed(choice.shot_seed), writer,
            batch_size=self.batch_size, builder=self.builder, option_tokens=self.option_tokens,
            cache_root=self.cache_root, advance=step,
        )
        return key, writer.correctness(key, self.val_ids[start:stop])

    def evaluate_test(
        self, writer: ShardWriter, cell: TaskCell, choice: PromptChoice, prompt_model: str, *, variant: Variant,
        counterpart: str | None, candidates: list[dict[str, Any]], description: str,
        selection_summary: dict[str, Any] | None = None,
    ) -> None:
        """Run one prompt choice on the test split and record its entry in the shard plan."""
        test = test_items(self.splits.test, cell.decoding, self.study.limits.max_greedy_items)
        key = run_unit(
            self.adapter, self.unit("test", cell.setting.shots, cell.decoding, choice, prompt_model), test,
            cell.picker.for_seed(choice.shot_seed), writer,
            batch_size=self.batch_size, builder=self.builder, option_tokens=self.option_tokens,
            cache_root=self.cache_root, advance=_Progress(self.advance, description, len(test)),
        )
        self.entries.append(PlanEntry(
            setting=cell.setting.name, shots=cell.setting.shots, decoding=cell.decoding, variant=variant,
            counterpart=counterpart, key=key, choice=choice.as_data(), choice_label=choice.label,
            candidates=candidates, selection=selection_summary, n_items=len(test),
        ))

    def run_medopt(self, writer: ShardWriter, cell: TaskCell, counterparts: Sequence[ModelRef]) -> None:
        """The cell's test split with each medical counterpart's selected prompt (medopt)."""
        for counterpart in counterparts:
            choice = _counterpart_choice(self.run_dir, counterpart, self.task, cell.setting.name, cell.decoding)
            self.evaluate_test(
                writer, cell, choice, counterpart.label, variant=Variant.MEDOPT, counterpart=counterpart.label,
                candidates=[], description=f"medopt {cell.where} ← {counterpart.label}",
            )

    def write_plan(self, variant: Variant) -> None:
        """The shard's plan: this run's entries, plus earlier ones for cells it did not run (a partial rerun)."""
        splits = self.splits
        entries = keep_previous_entries(read_shard_plan(self.run_dir, self.shard), self.entries)
        write_shard_plan(self.run_dir, self.shard, ShardPlan(
            model=self.ref.label, task=self.task, variant=variant, entries=entries, carved=splits.carved,
            filtered=splits.filtered, n_test=len(splits.test), n_val=len(splits.val), n_train=len(splits.train),
        ))


def run_model_task(
    run_dir: Path,
    study: StudyConfig,
    ref: ModelRef,
    spec: ModelSpec,
    identity: dict[str, Any],
    adapter: Adapter,
    splits: TaskSplits,
    counterparts: Sequence[ModelRef],
    *,
    variant: Variant = Variant.OWN,
    advance: Advance | None = None,
    grid: TaskGrid | None = None,
) -> str:
    """Selection, test and medopt units of one (model, task) shard; writes the shard's plan file at the end."""
    return TaskRun(run_dir, study, ref, spec, identity, adapter, splits, advance).run(counterparts, variant, grid)


def _counterpart_choice(run_dir: Path, counterpart: ModelRef, task: str, setting: str, decoding: str) -> PromptChoice:
    """The medical model's selected prompt for the same cell (its plan must exist: medical models run first)."""
    plan = read_shard_plan(run_dir, shard_name(counterpart.label, task))
    if plan is None:
        raise StudyError(f"medopt needs the plan of {counterpart.label} on {task}, which has not run yet")
    entry = plan.by_cell(Variant.OWN).get((setting, decoding))
    if entry is not None:
        return PromptChoice.from_data(entry.choice)
    raise StudyError(f"medopt: {counterpart.label} on {task} has no {setting}/{decoding} result")
