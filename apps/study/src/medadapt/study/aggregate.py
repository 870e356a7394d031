"""Aggregate: from the store and the shard plans to paired correctness vectors per comparison cell."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from medadapt.study.config import StudyConfig
from medadapt.study.model_identity import resolve_spec_or_none
from medadapt.study.model_job import skip_reason
from medadapt.study.run_dir import shard_name
from medadapt.study.shard_plan import CellKey, PlanEntry, ShardPlan, Variant, read_shard_plan
from medadapt.study.store import StoreView, read_store


@dataclass(frozen=True)
class ModelResult:
    """One model's test predictions in one cell."""

    model: str
    key: str
    choice_label: str
    ids: tuple[str, ...]
    correct: tuple[bool, ...]
    groups: tuple[str | None, ...]
    too_long: frozenset[str] = frozenset()  # items whose prompt did not fit the model's context (stored as wrong)

    @property
    def accuracy(self) -> float:
        return sum(self.correct) / len(self.correct) if self.correct else float("nan")

    def without(self, drop: frozenset[str]) -> ModelResult:
        """The same result with the items in `drop` left out."""
        keep = [i for i, item in enumerate(self.ids) if item not in drop]
        return replace(
            self,
            ids=tuple(self.ids[i] for i in keep),
            correct=tuple(self.correct[i] for i in keep),
            groups=tuple(self.groups[i] for i in keep),
            too_long=self.too_long - drop,
        )


@dataclass(frozen=True)
class Cell:
    """A comparison: medical vs general on one task, setting and decoding, with the same test items."""

    general: str
    medical: str
    task: str
    setting: str
    decoding: str
    variant: Variant
    general_result: ModelResult
    medical_result: ModelResult
    overlong: dict[str, Any] = field(default_factory=dict)  # too-long counts and what the policy did with them

    @property
    def label(self) -> str:
        return f"{self.medical} vs {self.general} · {self.task} · {self.setting} · {self.decoding}"


@dataclass
class StudyResults:
    """Every cell, every model's selection evidence, and notes (carved splits, missing shards)."""

    cells: list[Cell] = field(default_factory=list)
    selections: list[dict[str, Any]] = field(default_factory=list)
    accuracies: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)  # pair × task not compared (a model's skip_tasks)
    uncompared: list[dict[str, Any]] = field(default_factory=list)  # cells with every item too long (overlong: exclude)
    records: int = 0
    duplicates: int = 0


def _result(view: StoreView, model: str, entry: PlanEntry) -> ModelResult | None:
    """A model's stored test predictions of one plan entry, or None when none are stored."""
    records = view.records(entry.key)
    if not records:
        return None
    ids = tuple(sorted(records))
    return ModelResult(
        model=model,
        key=entry.key,
        choice_label=entry.choice_label,
        ids=ids,
        correct=tuple(bool(records[i]["correct"]) for i in ids),
        groups=tuple(records[i].get("group") for i in ids),
        too_long=frozenset(i for i in ids if records[i].get("status") == TOO_LONG),
    )


TOO_LONG = "too_long"


def paired_cell(
    general: str, medical: str, task: str, setting: str, decoding: str, variant: Variant,
    general_result: ModelResult, medical_result: ModelResult, policy: str,
) -> Cell:
    """A cell of two aligned results; over-long items are counted, and with policy "exclude" left out for both
    models (with "wrong" they stay in, scored wrong, as a study that truncates nothing would count them)."""
    general_result, medical_result = _common_items(general_result, medical_result)
    drop = general_result.too_long | medical_result.too_long
    overlong = {
        "policy": policy,
        "too_long_general": len(general_result.too_long),
        "too_long_medical": len(medical_result.too_long),
        "excluded": len(drop) if policy == "exclude" else 0,
    }
    if policy == "exclude" and drop:
        general_result, medical_result = general_result.without(drop), medical_result.without(drop)
    return Cell(general, medical, task, setting, decoding, variant, general_result, medical_result, overlong)


def _common_items(a: ModelResult, b: ModelResult) -> tuple[ModelResult, ModelResult]:
    """Both results on the items both have. A complete store (checked before any report) has the same items on
    both sides; a partial one, reported with --allow-partial, is compared on what both models answered."""
    if a.ids == b.ids:
        return a, b
    common = set(a.ids) & set(b.ids)
    return a.without(frozenset(a.ids) - common), b.without(frozenset(b.ids) - common)


Plans = dict[tuple[str, str], ShardPlan | None]
"""Each (model label, task) of the study with its shard plan, None when the shard has not finished."""


def collect_results(run_dir: Path, config: StudyConfig) -> StudyResults:
    """Read every shard plan of the study and pair the medical and general results cell by cell."""
    view = read_store(run_dir)
    results = StudyResults(records=sum(len(v) for v in view.predictions.values()), duplicates=view.duplicates)
    plans, skips = _read_plans(run_dir, config, results)
    _model_results(view, plans, results)
    results.notes = sorted(set(results.notes))
    _pair_cells(view, config, plans, skips, results)
    results.cells.extend(collect_finetune_cells(run_dir, config, view))
    _set_aside_empty_cells(results)
    return results


def _read_plans(run_dir: Path, config: StudyConfig, results: StudyResults) -> tuple[Plans, dict[tuple[str, str], str]]:
    """Every (model, task) plan, and why a model skips a task; notes unfinished shards and carved splits."""
    plans: Plans = {}
    skips: dict[tuple[str, str], str] = {}
    for ref in config.models():
        spec = resolve_spec_or_none(ref)
        for task in config.tasks:
            reason = skip_reason(spec, task) if spec is not None else None
            if reason is not None:
                skips[(ref.label, task)] = reason
            plan = plans[(ref.label, task)] = read_shard_plan(run_dir, shard_name(ref.label, task))
            if plan is None and reason is None:
                results.notes.append(f"{ref.label} on {task} has not finished; its cells are missing")
            if plan is not None and plan.carved:
                results.notes.append(
                    f"{task}: no {' or '.join(plan.carved)} split on disk; carved from the test file (seed 0)"
                )
    return plans, skips


def _model_results(view: StoreView, plans: Plans, results: StudyResults) -> None:
    """Each model's own-prompt accuracy per cell and its prompt-selection evidence."""
    for (model, task), plan in plans.items():
        for entry in plan.entries if plan is not None else ():
            if entry.variant != Variant.OWN:
                continue
            where = {"model": model, "task": task, "setting": entry.setting, "decoding": entry.decoding}
            result = _result(view, model, entry)
            if result is not None:
                results.accuracies.append({
                    **where, "prompt": entry.choice_label, "n": len(result.ids), "correct": sum(result.correct),
                    "accuracy": result.accuracy, "too_long": len(result.too_long),
                })
            if entry.candidates:
                results.selections.append({
                    **where, "chosen": entry.choice_label, "candidates": entry.candidates,
                    "selection": entry.selection,
                })


def _pair_cells(
    view: StoreView, config: StudyConfig, plans: Plans, skips: dict[tuple[str, str], str], results: StudyResults
) -> None:
    """The own-prompt and medopt cells of every pair × task × setting × decoding both models have results for."""
    for pair in config.pairs:
        g, m = pair.general.label, pair.medical.label
        for task in config.tasks:
            reason = skips.get((g, task)) or skips.get((m, task))
            if reason is not None:
                results.skipped.append({"general": g, "medical": m, "task": task, "reason": reason})
                results.notes.append(f"{m} vs {g} on {task}: skipped ({reason})")
                continue
            general_plan, medical_plan = plans.get((g, task)), plans.get((m, task))
            medical_own = medical_plan.by_cell(Variant.OWN) if medical_plan is not None else {}
            general_by_variant = {
                variant: general_plan.by_cell(variant, counterpart=m) if general_plan is not None else {}
                for variant in (Variant.OWN, Variant.MEDOPT)
            }
            for setting in (s for s in config.settings if s.applies_to(task)):
                for decoding in config.decodings:
                    med_entry = medical_own.get((setting.name, decoding))
                    medical_result = _result(view, m, med_entry) if med_entry is not None else None
                    if medical_result is None:
                        continue
                    for variant, general_entries in general_by_variant.items():
                        gen_entry = general_entries.get((setting.name, decoding))
                        general_result = _result(view, g, gen_entry) if gen_entry is not None else None
                        if general_result is None:
                            continue
                        results.cells.append(paired_cell(
                            g, m, task, setting.name, decoding, variant, general_result, medical_result,
                            config.overlong,
                        ))


MIN_PAIRED_ITEMS = 2  # a paired bootstrap needs two items


def _set_aside_empty_cells(results: StudyResults) -> None:
    """Cells left with fewer than two items (the rest too long for one of the models) cannot be compared: they are
    listed with their too-long counts, not tested."""
    for cell in (c for c in results.cells if len(c.general_result.ids) < MIN_PAIRED_ITEMS):
        results.uncompared.append({
            "general": cell.general, "medical": cell.medical, "task": cell.task, "setting": cell.setting,
            "decoding": cell.decoding, "variant": cell.variant.value, **cell.overlong,
        })
        results.notes.append(f"{cell.label} ({cell.variant}): not compared, {len(cell.general_result.ids)} item(s) "
                             f"left after {cell.overlong.get('excluded', 0)} too-long prompts were excluded")
    results.cells = [c for c in results.cells if len(c.general_result.ids) >= MIN_PAIRED_ITEMS]


def _entries(plan: ShardPlan | None, variant: Variant) -> dict[CellKey, PlanEntry]:
    return plan.by_cell(variant) if plan is not None else {}


def collect_finetune_cells(run_dir: Path, config: StudyConfig, view: StoreView) -> list[Cell]:
    """Cells comparing the fine-tuned medical model with the fine-tuned general model."""
    from medadapt.study.finetune_phase import FT_SETTING, finetune_tasks, finetuned_label

    if not config.finetune.enabled:
        return []
    cells = []
    for pair in config.pairs:
        g, m = pair.general.label, pair.medical.label
        for task in finetune_tasks(config):
            gl, ml = finetuned_label(g, task), finetuned_label(m, task)
            general = _entries(read_shard_plan(run_dir, shard_name(gl, task)), Variant.FINE_TUNED)
            medical = _entries(read_shard_plan(run_dir, shard_name(ml, task)), Variant.FINE_TUNED)
            for cell_key, med_entry in medical.items():
                gen_entry = general.get(cell_key)
                if gen_entry is None:
                    continue
                gr, mr = _result(view, g, gen_entry), _result(view, m, med_entry)
                if gr is None or mr is None:
                    continue
                cells.append(paired_cell(
                    g, m, task, FT_SETTING, cell_key[1], Variant.FINE_TUNED, gr, mr, config.overlong
                ))
    return cells
