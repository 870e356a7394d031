"""Growing a run: an existing run directory accepts a changed config when every finished unit stays valid (units are
found by run key, so new pairs, tasks, settings or decodings only add units), and `--only` runs a subset of it."""

from __future__ import annotations

import datetime as _dt
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medadapt.study.config import StudyConfig, config_to_dict
from medadapt.study.errors import StudyError
from medadapt.study.run_dir import HISTORY_FILE
from medadapt.study.shard_plan import PlanEntry, ShardPlan

ONLY_FIELDS = ("tasks", "models", "settings", "decodings")


def irreconcilable_changes(have: StudyConfig, wanted: StudyConfig) -> list[str]:
    """Why the stored records cannot serve the new config (empty when they can).

    Run keys hash the model, prompt, decoding and scoring code, but not the data files nor the test item cap: item
    ids under another data directory may name other questions, and a lower cap would leave old units scored on more
    items than new ones (their cells would no longer be paired on the same items).
    """
    reasons = []
    if have.data_dir != wanted.data_dir:
        reasons.append(f"data_dir changed ({have.data_dir} → {wanted.data_dir})")
    for cap in ("max_test_items", "max_greedy_items"):
        old_cap, new_cap = getattr(have.limits, cap), getattr(wanted.limits, cap)
        if new_cap is not None and (old_cap is None or new_cap < old_cap):
            reasons.append(f"limits.{cap} lowered ({old_cap} → {new_cap})")
    return reasons


def changed_keys(have: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    """Top-level config keys whose values differ."""
    return sorted(k for k in set(have) | set(wanted) if have.get(k) != wanted.get(k))


def record_config(run_dir: Path, config: StudyConfig, changed: list[str]) -> None:
    """Append the config a run was (re)started with to the run's config history (one JSON line per change)."""
    entry = {
        "at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "changed": changed,
        "config": config_to_dict(config),
    }
    path = Path(run_dir) / HISTORY_FILE
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry, sort_keys=True, ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def check_growth(run_dir: Path, have: StudyConfig, wanted: StudyConfig) -> list[str]:
    """The changed top-level keys, or a StudyError naming what cannot be reconciled."""
    reasons = irreconcilable_changes(have, wanted)
    if reasons:
        raise StudyError(f"{run_dir} holds a different study ({'; '.join(reasons)}); use another --out")
    return changed_keys(config_to_dict(have), config_to_dict(wanted))


@dataclass(frozen=True)
class Subset:
    """`--only tasks=T1,T2,models=M,settings=S,decodings=D`: what a run is restricted to (None: everything)."""

    tasks: tuple[str, ...] | None = None
    models: tuple[str, ...] | None = None
    settings: tuple[str, ...] | None = None
    decodings: tuple[str, ...] | None = None


def parse_only(text: str) -> Subset:
    """Parse `tasks=a,b,models=c,settings=d`: a bare value continues the list of the field named before it."""
    values: dict[str, list[str]] = {}
    current: str | None = None
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if "=" in part:
            current, _, part = part.partition("=")
            current = current.strip()
            if current not in ONLY_FIELDS:
                raise StudyError(f"--only: unknown field {current!r}; allowed: {', '.join(ONLY_FIELDS)}")
            values.setdefault(current, [])
        if current is None:
            raise StudyError(f"--only: {part!r} has no field; write e.g. tasks={part}")
        if part:
            values[current].append(part.strip())
    if not values:
        raise StudyError("--only: nothing selected; write e.g. tasks=pubmedqa,settings=zero-shot")
    return Subset(**{k: tuple(v) for k, v in values.items()})


def restrict(config: StudyConfig, subset: Subset) -> StudyConfig:
    """The part of `config` that `subset` selects (its pairs: those with a selected model; each name must exist)."""

    def pick(field: str, available: list[str], wanted: tuple[str, ...] | None) -> list[str]:
        if wanted is None:
            return available
        unknown = [w for w in wanted if w not in available]
        if unknown:
            raise StudyError(f"--only {field}: {', '.join(unknown)} not in the config (it has: {', '.join(available)})")
        return [a for a in available if a in wanted]

    tasks = pick("tasks", list(config.tasks), subset.tasks)
    settings = pick("settings", [s.name for s in config.settings], subset.settings)
    decodings = pick("decodings", list(config.decodings), subset.decodings)
    models = pick("models", [m.label for m in config.models()], subset.models)
    pairs = [p for p in config.pairs if p.general.label in models or p.medical.label in models]
    finetune_tasks = [t for t in (config.finetune.tasks or config.tasks) if t in tasks]
    finetune = config.finetune.model_copy(
        update={"tasks": finetune_tasks, "enabled": config.finetune.enabled and bool(finetune_tasks)}
    )
    return config.model_copy(
        update={
            "tasks": tasks,
            "settings": [s for s in config.settings if s.name in settings],
            "decodings": decodings,
            "pairs": pairs,
            "finetune": finetune,
        }
    )


def only_models(subset: Subset | None) -> set[str] | None:
    """The model labels `--only` selected (None: all)."""
    return None if subset is None or subset.models is None else set(subset.models)


def keep_models(waves: list[Any], labels: set[str] | None) -> list[Any]:
    """The waves with only the jobs of the selected models (all when `labels` is None)."""
    if labels is None:
        return waves
    from dataclasses import replace

    from medadapt.study.config import ModelRef

    return [
        replace(wave, jobs=tuple(j for j in wave.jobs if ModelRef.model_validate(j.model).label in labels))
        for wave in waves
    ]


def keep_previous_entries(previous: ShardPlan | None, entries: list[PlanEntry]) -> list[PlanEntry]:
    """A shard plan's entries after a partial rerun: the new ones, plus earlier ones for slots this run skipped
    (a `--only settings=zero-shot` rerun must not drop the shard's 3-shot results)."""
    fresh = {e.slot for e in entries}
    kept = [e for e in (previous.entries if previous is not None else ()) if e.slot not in fresh]
    return kept + entries
