"""Aggregate: from the store and the shard plans to paired correctness vectors per comparison cell."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medadapt.study.config import StudyConfig
from medadapt.study.errors import StudyError
from medadapt.study.store import StoreView, read_shard_plan, read_store, shard_name


@dataclass(frozen=True)
class ModelResult:
    """One model's test predictions in one cell."""

    model: str
    key: str
    choice_label: str
    ids: tuple[str, ...]
    correct: tuple[bool, ...]
    groups: tuple[str | None, ...]

    @property
    def accuracy(self) -> float:
        return sum(self.correct) / len(self.correct) if self.correct else float("nan")


@dataclass(frozen=True)
class Cell:
    """A comparison: medical vs general on one task, setting and decoding, with the same test items."""

    general: str
    medical: str
    task: str
    setting: str
    decoding: str
    variant: str  # "own prompts" | "medopt" | "fine-tuned"
    general_result: ModelResult
    medical_result: ModelResult

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
    records: int = 0
    duplicates: int = 0


def _result(view: StoreView, model: str, entry: dict[str, Any]) -> ModelResult | None:
    records = view.records(entry["key"])
    if not records:
        return None
    ids = tuple(sorted(records))
    return ModelResult(
        model=model,
        key=entry["key"],
        choice_label=entry["choice_label"],
        ids=ids,
        correct=tuple(bool(records[i]["correct"]) for i in ids),
        groups=tuple(records[i].get("group") for i in ids),
    )


def _common_items(a: ModelResult, b: ModelResult) -> tuple[ModelResult, ModelResult]:
    """Both results on the items both have. A complete store (checked before any report) has the same items on
    both sides; a partial one, reported with --allow-partial, is compared on what both models answered."""
    if a.ids == b.ids:
        return a, b
    common = set(a.ids) & set(b.ids)

    def restrict(r: ModelResult) -> ModelResult:
        keep = [i for i, item in enumerate(r.ids) if item in common]
        return ModelResult(r.model, r.key, r.choice_label, tuple(r.ids[i] for i in keep),
                           tuple(r.correct[i] for i in keep), tuple(r.groups[i] for i in keep))

    return restrict(a), restrict(b)


def _aligned(a: ModelResult, b: ModelResult, where: str) -> None:
    if a.ids != b.ids:
        raise StudyError(f"{where}: the two models were scored on different items ({len(a.ids)} vs {len(b.ids)})")


def _own_entries(plan: dict[str, Any] | None, role: str = "own") -> dict[tuple[str, str], dict[str, Any]]:
    if plan is None:
        return {}
    return {(e["setting"], e["decoding"]): e for e in plan["entries"] if e["role"] == role}


def collect_results(run_dir: Path, config: StudyConfig) -> StudyResults:
    """Read every shard plan of the study and pair the medical and general results cell by cell."""
    view = read_store(run_dir)
    results = StudyResults(records=sum(len(v) for v in view.predictions.values()), duplicates=view.duplicates)
    plans: dict[tuple[str, str], dict[str, Any] | None] = {}
    for ref in config.models():
        for task in config.tasks:
            plan = read_shard_plan(run_dir, shard_name(ref.label, task))
            plans[(ref.label, task)] = plan
            if plan is None:
                results.notes.append(f"{ref.label} on {task} has not finished; its cells are missing")
                continue
            if plan.get("carved"):
                results.notes.append(
                    f"{task}: no {' or '.join(plan['carved'])} split on disk; carved from the test file (seed 0)"
                )
            for entry in plan["entries"]:
                if entry["role"] != "own":
                    continue
                result = _result(view, ref.label, entry)
                if result is not None:
                    results.accuracies.append(
                        {
                            "model": ref.label,
                            "task": task,
                            "setting": entry["setting"],
                            "decoding": entry["decoding"],
                            "prompt": entry["choice_label"],
                            "n": len(result.ids),
                            "correct": sum(result.correct),
                            "accuracy": result.accuracy,
                        }
                    )
                if entry["candidates"]:
                    results.selections.append(
                        {
                            "model": ref.label,
                            "task": task,
                            "setting": entry["setting"],
                            "decoding": entry["decoding"],
                            "chosen": entry["choice_label"],
                            "candidates": entry["candidates"],
                        }
                    )
    results.notes = sorted(set(results.notes))
    for pair in config.pairs:
        g, m = pair.general.label, pair.medical.label
        for task in config.tasks:
            general_own = _own_entries(plans.get((g, task)))
            medical_own = _own_entries(plans.get((m, task)))
            medopt = {
                (e["setting"], e["decoding"]): e
                for e in (plans.get((g, task)) or {"entries": []})["entries"]
                if e["role"] == "medopt" and e["counterpart"] == m
            }
            for setting in config.settings:
                if not setting.applies_to(task):
                    continue
                for decoding in config.decodings:
                    cell_key = (setting.name, decoding)
                    med_entry = medical_own.get(cell_key)
                    if med_entry is None:
                        continue
                    medical_result = _result(view, m, med_entry)
                    for variant, gen_entry in (("own prompts", general_own.get(cell_key)), ("medopt", medopt.get(cell_key))):
                        if gen_entry is None or medical_result is None:
                            continue
                        general_result = _result(view, g, gen_entry)
                        if general_result is None:
                            continue
                        general_result, paired_medical = _common_items(general_result, medical_result)
                        if not general_result.ids:
                            continue
                        results.cells.append(
                            Cell(g, m, task, setting.name, decoding, variant, general_result, paired_medical)
                        )
    from medadapt.study.finetune_phase import collect_finetune_cells

    results.cells.extend(collect_finetune_cells(run_dir, config, view))
    return results
