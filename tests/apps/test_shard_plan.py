"""The shard plan contract: one vocabulary of variants, plan.json's layout kept (old files load and are written back
unchanged), and a damaged plan refused with the file and the field named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medadapt.study.errors import StudyError
from medadapt.study.run_dir import PLAN_FILE, shard_dir
from medadapt.study.shard_plan import PlanEntry, ShardPlan, Variant, read_shard_plan, write_shard_plan

SHARD = "gen--task-x"


def _entry(variant: Variant, setting: str = "zero-shot", counterpart: str | None = None, key: str = "k1") -> PlanEntry:
    return PlanEntry(
        setting=setting, shots=0, decoding="constrained", variant=variant, counterpart=counterpart, key=key,
        choice={"style": "default", "chat": False}, choice_label="default", candidates=[], selection=None, n_items=3,
    )


def test_variant_names_and_roles_are_one_vocabulary() -> None:
    assert [v.value for v in Variant] == ["own prompts", "medopt", "fine-tuned"]
    assert [v.role for v in Variant] == ["own", "medopt", "fine-tuned"]
    assert all(Variant.from_role(v.role) is v and Variant.from_role(v.value) is v for v in Variant)
    with pytest.raises(ValueError, match="unknown role 'theirs'"):
        Variant.from_role("theirs")


def test_plan_round_trips_through_plan_json(tmp_path: Path) -> None:
    plan = ShardPlan(
        model="gen", task="task-x", variant=Variant.OWN, carved=["val"], filtered={}, n_test=3, n_val=2, n_train=5,
        entries=[_entry(Variant.OWN), _entry(Variant.MEDOPT, counterpart="med", key="k2")],
    )
    write_shard_plan(tmp_path, SHARD, plan)
    data = json.loads((shard_dir(tmp_path, SHARD) / PLAN_FILE).read_text(encoding="utf-8"))
    assert data["role"] == "own" and [e["role"] for e in data["entries"]] == ["own", "medopt"]
    assert "variant" not in data and "variant" not in data["entries"][0]
    assert data["entries"][0]["counterpart"] is None and data["entries"][0]["selection"] is None
    assert read_shard_plan(tmp_path, SHARD) == plan


def test_older_plan_layout_loads_and_is_written_back_unchanged(tmp_path: Path) -> None:
    # An early plan: no shots, counterpart, selection or n_items in its entries, no model/task/split sizes.
    old = {"entries": [{"key": "k1", "role": "own", "setting": "zero-shot", "decoding": "constrained",
                        "choice": {}, "choice_label": "default", "candidates": []}], "n_test": 40}
    path = shard_dir(tmp_path, SHARD) / PLAN_FILE
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(old), encoding="utf-8")
    plan = read_shard_plan(tmp_path, SHARD)
    assert plan is not None and plan.variant is Variant.OWN
    entry = plan.entries[0]
    assert entry.variant is Variant.OWN and entry.counterpart is None and entry.items(plan.n_test) == 40
    assert plan.by_cell(Variant.OWN) == {("zero-shot", "constrained"): entry}
    assert plan.to_data() == old


def test_plan_lookups_by_cell_and_slot() -> None:
    own, medopt_a, medopt_b = (_entry(Variant.OWN), _entry(Variant.MEDOPT, counterpart="med-a", key="ka"),
                               _entry(Variant.MEDOPT, counterpart="med-b", key="kb"))
    plan = ShardPlan(n_test=3, entries=[own, medopt_a, medopt_b])
    assert plan.by_cell(Variant.MEDOPT, counterpart="med-b") == {("zero-shot", "constrained"): medopt_b}
    assert plan.find("zero-shot", "constrained", Variant.MEDOPT, "med-a") == medopt_a
    assert plan.find("3-shot", "constrained", Variant.OWN, None) is None


@pytest.mark.parametrize(
    ("entry_change", "field"),
    [({"role": "theirs"}, "entries.0.role"), ({"key": None}, "entries.0.key"), ({"n_items": "many"}, "entries.0.n_items")],
)
def test_bad_field_is_refused_naming_file_and_field(tmp_path: Path, entry_change: dict, field: str) -> None:
    entry = {"key": "k1", "role": "own", "setting": "zero-shot", "decoding": "constrained", "choice_label": "default",
             "candidates": [], **entry_change}
    path = shard_dir(tmp_path, SHARD) / PLAN_FILE
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"entries": [entry], "n_test": 3}), encoding="utf-8")
    with pytest.raises(StudyError) as raised:
        read_shard_plan(tmp_path, SHARD)
    message = str(raised.value)
    assert str(path) in message and f"is not a shard plan ({field}:" in message and "medadapt run" in message


def test_missing_entries_is_refused(tmp_path: Path) -> None:
    path = shard_dir(tmp_path, SHARD) / PLAN_FILE
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"n_test": 3}), encoding="utf-8")
    with pytest.raises(StudyError, match=r"plan.json: is not a shard plan \(entries: Field required\)"):
        read_shard_plan(tmp_path, SHARD)
