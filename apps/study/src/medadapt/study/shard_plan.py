"""The shard plan (`plan.json` of one (model, task) shard): which run key answers which cell, with the selection
evidence. Written by the model job at the end of a shard, read by medopt, the aggregate, the store check and
`medadapt status`; this module is its one typed contract and its one reader and writer.

The file keeps its historical layout: each entry names its variant by the `role` key with the values own / medopt /
fine-tuned, and optional fields that an older file lacks stay absent when it is written back."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_serializer, field_validator

from medadapt.study.errors import StudyError
from medadapt.study.run_dir import PLAN_FILE, shard_dir
from medadapt.study.store_files import write_json_atomic


class Variant(StrEnum):
    """How a test result's prompt was chosen: the model's own selection, the medical model's prompt (medopt), or the
    fine-tuned model's training prompt. The value is the report's name; `role` is the plan file's."""

    OWN = "own prompts"
    MEDOPT = "medopt"
    FINE_TUNED = "fine-tuned"

    @property
    def role(self) -> str:
        """The variant's spelling in plan.json."""
        return _ROLES[self]

    @classmethod
    def from_role(cls, role: str) -> Variant:
        """The variant a plan.json `role` names (the report's names are accepted too)."""
        for variant, spelling in _ROLES.items():
            if role in (spelling, variant.value):
                return variant
        raise ValueError(f"unknown role {role!r} (one of {', '.join(_ROLES.values())})")


_ROLES = {Variant.OWN: "own", Variant.MEDOPT: "medopt", Variant.FINE_TUNED: "fine-tuned"}


class _PlanModel(BaseModel):
    """Plan records: immutable, strictly typed (a hand-edited "40" is not a count), unknown keys of older files
    ignored, the `role` key read into `variant`."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True, strict=True)

    @field_validator("variant", mode="before", check_fields=False)
    @classmethod
    def _read_role(cls, value: Any) -> Any:
        return Variant.from_role(value) if isinstance(value, str) else value

    @field_serializer("variant", check_fields=False)
    def _write_role(self, variant: Variant) -> str:
        return variant.role


CellKey = tuple[str, str]
"""(setting name, decoding): one cell of a model's results on a task."""


class PlanEntry(_PlanModel):
    """One test unit of the shard: its cell, variant, run key, prompt choice and the selection evidence."""

    setting: str
    decoding: str
    variant: Variant = Field(alias="role")
    key: str
    choice_label: str
    candidates: list[dict[str, Any]]
    shots: int | None = None
    counterpart: str | None = None  # medopt: the medical model whose prompt was used
    choice: dict[str, Any] = Field(default_factory=dict)  # PromptChoice.as_data()
    selection: dict[str, Any] | None = None  # SelectionOutcome.summary(); None when the grid had one candidate
    n_items: int | None = None  # test items scored (greedy units may be capped below the test split)

    @property
    def cell(self) -> CellKey:
        return (self.setting, self.decoding)

    @property
    def slot(self) -> tuple[str, str, Variant, str | None]:
        """What one entry of a plan answers: a later entry for the same slot replaces an earlier one."""
        return (self.setting, self.decoding, self.variant, self.counterpart)

    def items(self, n_test: int) -> int:
        """How many test items this entry's unit scores."""
        return self.n_items if self.n_items is not None else n_test


class ShardPlan(_PlanModel):
    """The resolved plan of one (model, task) shard."""

    entries: list[PlanEntry]
    n_test: int
    model: str | None = None
    task: str | None = None
    variant: Variant = Field(default=Variant.OWN, alias="role")  # fine-tuned shards carry "fine-tuned"
    carved: list[str] = Field(default_factory=list)  # splits carved from the test file (none on disk)
    filtered: dict[str, Any] = Field(default_factory=dict)
    n_val: int | None = None
    n_train: int | None = None

    def by_cell(self, variant: Variant, counterpart: str | None = None) -> dict[CellKey, PlanEntry]:
        """The entries of one variant by cell; for medopt, those that borrowed `counterpart`'s prompt."""
        return {
            e.cell: e for e in self.entries
            if e.variant == variant and (variant != Variant.MEDOPT or counterpart is None or e.counterpart == counterpart)
        }

    def find(self, setting: str, decoding: str, variant: Variant, counterpart: str | None) -> PlanEntry | None:
        """The entry of one slot, or None when the shard has not run it."""
        return next((e for e in self.entries if e.slot == (setting, decoding, variant, counterpart)), None)

    def to_data(self) -> dict[str, Any]:
        """The plan as plan.json stores it (`role` keys; optional fields an older file lacked stay absent)."""
        return self.model_dump(by_alias=True, exclude_unset=True)


def parse_plan(data: Any) -> ShardPlan:
    """A plan from its JSON data; ValueError naming the first bad field (`entries.2.role: …`)."""
    if not isinstance(data, dict):
        raise ValueError("is not a shard plan (not a JSON object)")
    try:
        return ShardPlan.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise ValueError(f"is not a shard plan ({where}: {error['msg']})") from None


def load_plan(path: Path) -> tuple[ShardPlan | None, str | None]:
    """A shard plan and None, or None and what is wrong with the file (truncated, not JSON, not a plan)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        return None, "is not UTF-8 text"
    except json.JSONDecodeError as exc:
        return None, f"is truncated or not JSON (line {exc.lineno}: {exc.msg})"
    try:
        return parse_plan(data), None
    except ValueError as exc:
        return None, str(exc)


def write_shard_plan(run_dir: Path, shard: str, plan: ShardPlan) -> None:
    """Write a shard's plan atomically (a reader sees the old or the new file, never half)."""
    write_json_atomic(shard_dir(run_dir, shard) / PLAN_FILE, plan.to_data())


def read_shard_plan(run_dir: Path, shard: str) -> ShardPlan | None:
    """A shard's plan, or None when its job has not finished; a damaged plan is a one-line error naming the file and
    the field (a resumed run rebuilds it: `repair_store` removes it and the shard's job rewrites it)."""
    path = shard_dir(run_dir, shard) / PLAN_FILE
    if not path.is_file():
        return None
    plan, problem = load_plan(path)
    if plan is None:
        raise StudyError(f"{path}: {problem}; rerun `medadapt run` on this run directory to rebuild it")
    return plan
