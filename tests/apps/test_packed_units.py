"""Packed selection units store what scoring each unit alone stores, and a resumed packed run equals an
uninterrupted one."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from medadapt.models import load_adapter
from medadapt.models.registry import spec_from_path
from medadapt.models.testing import build_tiny_causal_lm
from medadapt.prompts import QAExample
from medadapt.study.candidates import PromptChoice
from medadapt.study.engine import OptionTokenCache, PromptBuilder, UnitSpec, run_unit
from medadapt.study.packed_units import PackedUnit, packs, run_packed
from medadapt.study.run_dir import PREDICTIONS_FILE
from medadapt.study.store import ShardWriter

QUESTIONS = [
    QAExample(f"v{i}", "mmlu_anatomy", "validation", f"Which organ number {i} pumps blood?", ("heart", "liver", "lung"),
              "ABC"[i % 3])
    for i in range(3)
]
DEMOS = [
    QAExample(f"d{i}", "mmlu_anatomy", "train", f"Demo question {i}?", ("yes", "no"), "AB"[i % 2]) for i in range(4)
]
BATCH = 8


@pytest.fixture(scope="module")
def adapter(tmp_path_factory: pytest.TempPathFactory) -> Any:
    path = build_tiny_causal_lm(tmp_path_factory.mktemp("packed") / "llama")
    return load_adapter(spec_from_path(path), batch_size=BATCH)


def _unit(seed: int, decoding: str) -> UnitSpec:
    return UnitSpec(
        model={"name": "tiny"}, task="mmlu_anatomy", split="validation", shots=1, decoding=decoding,
        prompt=PromptChoice(style="default", shot_seed=seed), prompt_model="tiny", option_policy="study",
        extraction="study", max_new_tokens=2, study_compat=False,
    )


def _shots(seed: int) -> Callable[[Any], Sequence[Any]]:
    return lambda _example: [DEMOS[seed % len(DEMOS)]]


def _packed(decoding: str, seeds: Sequence[int]) -> list[PackedUnit]:
    return [PackedUnit(_unit(s, decoding), QUESTIONS, _shots(s)) for s in seeds]


def _store(adapter: Any, run_dir: Path, units: list[PackedUnit], *, packed: bool) -> list[dict[str, Any]]:
    builder = PromptBuilder(adapter, False)
    tokens = OptionTokenCache(adapter.tokenizer, "study")
    with ShardWriter(run_dir, "shard") as writer:
        if packed:
            run_packed(adapter, units, writer, batch_size=BATCH, builder=builder, option_tokens=tokens)
        else:
            for u in units:
                run_unit(adapter, u.unit, u.examples, u.shots_for, writer, batch_size=BATCH, builder=builder,
                         option_tokens=tokens)
    return _predictions(run_dir)


def _predictions(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "store" / "shard" / PREDICTIONS_FILE
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _by_row(records: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["key"], r["id"]): r for r in records}


def test_packing_is_for_units_smaller_than_a_batch() -> None:
    assert packs(3, 8) and not packs(8, 8) and not packs(0, 8)


@pytest.mark.parametrize("decoding", ["constrained", "greedy"])
def test_packed_units_store_what_each_unit_alone_stores(adapter: Any, tmp_path: Path, decoding: str) -> None:
    units = _packed(decoding, [0, 1, 2])
    alone = _by_row(_store(adapter, tmp_path / "alone", units, packed=False))
    together = _by_row(_store(adapter, tmp_path / "packed", units, packed=True))
    assert together.keys() == alone.keys() and len(together) == len(units) * len(QUESTIONS)
    for row, record in together.items():
        assert (record["pred"], record["prompt"], record["correct"]) == (
            alone[row]["pred"], alone[row]["prompt"], alone[row]["correct"]
        )
        if decoding == "constrained":  # other batch neighbours change padding only
            np.testing.assert_allclose(record["logprobs"], alone[row]["logprobs"], atol=1e-4)


def test_a_resumed_packed_run_recomputes_the_same_batches(adapter: Any, tmp_path: Path) -> None:
    units = _packed("constrained", [0, 1, 2, 3])  # 12 rows: a full batch of 8, then 4
    whole = _store(adapter, tmp_path / "whole", units, packed=True)
    assert len(whole) == 12
    cut = tmp_path / "cut"
    _store(adapter, cut, units, packed=True)
    path = cut / "store" / "shard" / PREDICTIONS_FILE
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(lines[:BATCH]), encoding="utf-8")  # killed after the first batch was written
    resumed = _store(adapter, cut, units, packed=True)
    assert [(r["key"], r["id"], r["logprobs"]) for r in resumed] == [(r["key"], r["id"], r["logprobs"]) for r in whole]


def test_units_that_decode_differently_are_not_packed(adapter: Any, tmp_path: Path) -> None:
    mixed = _packed("constrained", [0]) + _packed("greedy", [1])
    with pytest.raises(ValueError, match="decode alike"):
        _store(adapter, tmp_path, mixed, packed=True)
