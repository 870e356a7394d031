"""`medadapt status RUN_DIR`: what a run directory has done and what is left, per model × task × setting × decoding,
read from its config, shard plans and store (nothing is loaded or computed)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from medadapt.study.config import StudyConfig
from medadapt.study.run_dir import TRIAL_RESULT_FILE, TRIALS_DIR, finetune_dir, shard_name
from medadapt.study.shard_plan import Variant, read_shard_plan
from medadapt.study.store import StoreView, read_store


@dataclass(frozen=True)
class UnitStatus:
    """One test unit of the config: whose, where, and how many of its items are stored."""

    model: str
    task: str
    setting: str
    decoding: str
    role: str
    done: int
    total: int | None

    @property
    def state(self) -> str:
        if self.total is None:
            return "left"
        return "done" if self.done >= self.total else ("partial" if self.done else "left")


def unit_statuses(run_dir: Path, config: StudyConfig, view: StoreView | None = None) -> list[UnitStatus]:
    """Every test unit the config asks for (own prompts and medopt), with its stored item count."""
    from medadapt.study.study_plan import counterparts_of

    view = view if view is not None else read_store(run_dir)
    medical = {p.medical.label for p in config.pairs}
    rows = []
    for ref in config.models():
        roles: list[tuple[Variant, str | None]] = [(Variant.OWN, None)]
        if config.medopt and ref.label not in medical:
            roles += [(Variant.MEDOPT, c.label) for c in counterparts_of(config, ref)]
        for task in config.tasks:
            plan = read_shard_plan(run_dir, shard_name(ref.label, task))
            for setting in (s for s in config.settings if s.applies_to(task)):
                for decoding in config.decodings:
                    for role, counterpart in roles:
                        entry = plan.find(setting.name, decoding, role, counterpart) if plan else None
                        done = len(view.records(entry.key)) if entry else 0
                        label = role.role if counterpart is None else f"{role.role} ← {counterpart}"
                        expected = entry.items(plan.n_test) if entry and plan else None
                        rows.append(UnitStatus(ref.label, task, setting.name, decoding, label, done, expected))
    return rows


def finetune_status(run_dir: Path, config: StudyConfig) -> list[tuple[str, str, int, int]]:
    """(model, task, finished trials, trials) of the fine-tuning sweep (empty when fine-tuning is off)."""
    from medadapt.study.finetune_phase import finetune_tasks

    if not config.finetune.enabled:
        return []
    total = len(config.finetune.ranks) * len(config.finetune.learning_rates)
    rows = []
    for ref in config.models():
        for task in finetune_tasks(config):
            trials = finetune_dir(run_dir, ref.label, task) / TRIALS_DIR
            finished = len(list(trials.glob(f"*/{TRIAL_RESULT_FILE}"))) if trials.is_dir() else 0
            rows.append((ref.label, task, finished, total))
    return rows


def print_status(run_dir: Path, console: Console) -> tuple[int, int]:
    """Print the status tables; return (units done, units in the config)."""
    from medadapt.study.run_config import read_run_config

    config = read_run_config(run_dir)
    units = unit_statuses(run_dir, config)
    table = Table(title=f"{config.name}: test units")
    for column in ("model", "task", "setting", "decoding", "role", "items", "state"):
        table.add_column(column)
    for u in units:
        items = f"{u.done}/{u.total}" if u.total is not None else f"{u.done}/?"
        table.add_row(u.model, u.task, u.setting, u.decoding, u.role, items, u.state)
    console.print(table)
    shards = {(u.model, u.task) for u in units}
    planned = sum(read_shard_plan(run_dir, shard_name(m, t)) is not None for m, t in shards)
    done = sum(u.state == "done" for u in units)
    console.print(f"shards finished: {planned}/{len(shards)} · test units done: {done}/{len(units)}")
    trials = finetune_status(run_dir, config)
    if trials:
        ft = Table(title="fine-tuning trials")
        for column in ("model", "task", "trials"):
            ft.add_column(column)
        for model, task, finished, total in trials:
            ft.add_row(model, task, f"{finished}/{total}")
        console.print(ft)
    left = len(units) - done
    trials_left = sum(total - finished for _, _, finished, total in trials)
    if left == 0 and trials_left == 0:
        console.print("nothing left to run")
    else:
        console.print(f"left: {left} test units, {trials_left} fine-tuning trials (`medadapt run` resumes them)")
    return done, len(units)
