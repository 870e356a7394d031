"""The store checked against its plans before a report is trusted: every cell's run keys, item counts, duplicate or
conflicting records and the prompts its predictions point at. `medadapt report` and `medadapt run` refuse an
incomplete or inconsistent store unless partial results are asked for, and then say which cells are partial."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from medadapt.study.config import StudyConfig
from medadapt.study.jsonl import read_jsonl
from medadapt.study.model_identity import resolve_spec_or_none
from medadapt.study.run_dir import (
    PLAN_FILE,
    PREDICTIONS_FILE,
    PROMPTS_FILE,
    UNITS_FILE,
    report_dir,
    shard_dir,
    shard_name,
    store_dir,
)
from medadapt.study.shard_plan import PlanEntry, Variant, load_plan
from medadapt.study.store import PREDICTION_KEYS, PROMPT_KEYS, UNIT_KEYS


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the store: where (shard, and run key when it concerns one unit) and by how much."""

    shard: str
    message: str
    key: str | None = None
    expected: int | None = None
    found: int | None = None


@dataclass
class StoreCheck:
    """Every problem found; an empty list means every planned cell is complete and consistent."""

    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        """One line: how many problems, and the first one in full."""
        first = self.problems[0]
        more = len(self.problems) - 1
        return f"{first.shard}: {first.message}" + (f" (and {more} more problem{'s' if more > 1 else ''})" if more else "")

    def for_keys(self, *keys: str) -> list[Problem]:
        """Problems of the units with these run keys."""
        return [p for p in self.problems if p.key is not None and p.key in keys]

    def as_dict(self) -> dict[str, Any]:
        return {"complete": self.ok, "problems": [asdict(p) for p in self.problems]}


def expected_shards(config: StudyConfig) -> Iterator[tuple[str, str, str]]:
    """(model label, task, shard) of every shard the study plans, fine-tuned models included."""
    from medadapt.study.finetune_phase import finetune_tasks, finetuned_label
    from medadapt.study.model_job import skip_reason

    # A model's skipped tasks plan no shard; one whose spec no longer resolves plans every task (its shards count).
    runs = {ref.label: (ref, resolve_spec_or_none(ref)) for ref in config.models()}
    for ref, spec in runs.values():
        for task in config.tasks:
            if spec is None or skip_reason(spec, task) is None:
                yield ref.label, task, shard_name(ref.label, task)
    if config.finetune.enabled:
        for ref, spec in runs.values():
            for task in (t for t in finetune_tasks(config) if spec is None or skip_reason(spec, t) is None):
                label = finetuned_label(ref.label, task)
                yield label, task, shard_name(label, task)


@dataclass
class _ShardScan:
    units: set[str] = field(default_factory=set)
    records: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    duplicates: int = 0
    conflicts: list[str] = field(default_factory=list)
    missing_prompts: set[str] = field(default_factory=set)


def _same_answer(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return all(a.get(k) == b.get(k) for k in ("pred", "correct", "gold", "status"))


def scan_shard(folder: Path) -> _ShardScan:
    """Units, predictions by (key, id), duplicates, conflicts and dangling prompt hashes of one shard folder."""
    scan = _ShardScan(units={r["key"] for r in read_jsonl(folder / UNITS_FILE, UNIT_KEYS)})
    referenced: set[str] = set()
    for record in read_jsonl(folder / PREDICTIONS_FILE, PREDICTION_KEYS):
        by_id = scan.records.setdefault(record["key"], {})
        first = by_id.setdefault(record["id"], record)
        if first is not record:
            if _same_answer(first, record):
                scan.duplicates += 1
            else:
                scan.conflicts.append(str(record["id"]))
        referenced.add(record["prompt"])
    known = {r["hash"] for r in read_jsonl(folder / PROMPTS_FILE, PROMPT_KEYS)}
    scan.missing_prompts = referenced - known
    return scan


def _entry_name(label: str, task: str, entry: PlanEntry) -> str:
    role = entry.variant.role
    suffix = {Variant.OWN: "", Variant.MEDOPT: f" ({role} ← {entry.counterpart})"}.get(entry.variant, f" ({role})")
    return f"{label} · {task} · {entry.setting} · {entry.decoding}{suffix}"


def check_shard(run_dir: Path, label: str, task: str, shard: str) -> list[Problem]:
    """The problems of one planned shard."""
    folder = shard_dir(run_dir, shard)
    plan_path = folder / PLAN_FILE
    if not plan_path.is_file():
        return [Problem(shard, f"{label} on {task} has not finished (no {PLAN_FILE}); its cells are missing")]
    plan, problem = load_plan(plan_path)
    if plan is None:
        return [Problem(shard, f"{PLAN_FILE} {problem}; rerun `medadapt run` to rebuild it")]
    scan = scan_shard(folder)
    problems = []
    if scan.missing_prompts:
        example = sorted(scan.missing_prompts)[0][:12]
        problems.append(Problem(shard, f"{PROMPTS_FILE} lacks {len(scan.missing_prompts)} prompt texts that "
                                       f"{PREDICTIONS_FILE} points at (e.g. {example}); rerun `medadapt run` to "
                                       "render them again"))
    if scan.conflicts:
        problems.append(Problem(shard, f"{len(scan.conflicts)} conflicting records (same run key and item, different "
                                       f"answers; e.g. item {scan.conflicts[0]!r})"))
    if scan.duplicates:
        problems.append(Problem(shard, f"{scan.duplicates} duplicate records (same run key and item twice)"))
    for entry in plan.entries:
        # Greedy units may score fewer items than the test split (limits.max_greedy_items): each entry says how many.
        expected = entry.items(plan.n_test)
        key = entry.key
        name = _entry_name(label, task, entry)
        if key not in scan.units:
            problems.append(Problem(shard, f"{name}: run key {key[:12]} has no unit record", key=key))
        found = len(scan.records.get(key, {}))
        if found != expected:
            problems.append(Problem(shard, f"{name}: {found} of {expected} test items stored", key=key,
                                    expected=expected, found=found))
    return problems


def check_store(run_dir: Path, config: StudyConfig) -> StoreCheck:
    """Every planned shard of the study checked against its plan."""
    check = StoreCheck()
    for label, task, shard in expected_shards(config):
        check.problems.extend(check_shard(run_dir, label, task, shard))
    return check


def repair_store(run_dir: Path) -> None:
    """Before a resumed run: remove what a kill left (temporary files, a damaged plan, which the shard's job
    rewrites from the stored predictions) and refuse what cannot be rebuilt (a malformed line). Lost prompt texts
    are rendered again by the resumed units; the check that ends the run refuses any that could not be."""
    import logging

    from medadapt.study.store_files import sweep_temp_files

    log = logging.getLogger("medadapt.study")
    root = store_dir(run_dir)
    shards = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    sweep_temp_files([Path(run_dir), report_dir(run_dir), *shards])
    for folder in shards:
        plan_path = folder / PLAN_FILE
        if plan_path.is_file() and load_plan(plan_path)[0] is None:
            log.warning("%s is damaged; the shard's job rebuilds it from the stored predictions", plan_path)
            plan_path.unlink()
        missing = scan_shard(folder).missing_prompts
        if missing:
            log.warning("%s lacks %d prompt texts; the resumed units render them again", folder / PROMPTS_FILE,
                        len(missing))
