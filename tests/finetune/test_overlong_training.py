"""Training examples longer than the model's context: an error naming one by default, or left out and counted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medadapt.finetune.spec import SweepSpec, TrainingSpec
from medadapt.finetune.supervised import SupervisedPair
from medadapt.finetune.sweep_setup import MANIFEST, prepare_sweep

SHORT = [SupervisedPair(prompt=f"Question {i}: which organ pumps blood?", target=" (A) heart", example_id=f"s{i}")
         for i in range(3)]
LONG = SupervisedPair(prompt="word " * 400, target=" (B) liver", example_id="long-note")
SPEC = SweepSpec(ranks=(4,), learning_rates=(1e-3,), training=TrainingSpec(max_length=64))


def test_an_overlong_example_stops_the_sweep_by_default_naming_it(tiny_lm: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"'long-note'.*max_length=64"):
        prepare_sweep(tiny_lm, [*SHORT, LONG], SHORT, tmp_path, SPEC)


def test_dropped_overlong_examples_are_counted_in_the_manifest(tiny_lm: Path, tmp_path: Path) -> None:
    setup = prepare_sweep(tiny_lm, [*SHORT, LONG], [LONG, *SHORT], tmp_path, SPEC, overlong="drop")
    assert [f.example_id for f in setup.train] == ["s0", "s1", "s2"] and len(setup.val) == 3
    manifest = json.loads((tmp_path / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["train"]["overlong_dropped"] == 1 and manifest["val"]["overlong_dropped"] == 1
    clean = prepare_sweep(tiny_lm, SHORT, SHORT, tmp_path / "clean", SPEC, overlong="drop")
    assert len(clean.train) == 3
    assert "overlong_dropped" not in json.loads((tmp_path / "clean" / MANIFEST).read_text(encoding="utf-8"))["train"]


def test_nothing_left_to_train_on_is_an_error(tiny_lm: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="training data: all 1 examples are longer than the model's 64 tokens"):
        prepare_sweep(tiny_lm, [LONG], SHORT, tmp_path, SPEC, overlong="drop")


def test_the_training_cap_counts_examples_that_fit(tiny_lm: Path, tmp_path: Path) -> None:
    setup = prepare_sweep(tiny_lm, [LONG, LONG, *SHORT], SHORT, tmp_path, SPEC, overlong="drop", max_train_examples=2)
    assert [f.example_id for f in setup.train] == ["s0", "s1"]
    assert json.loads((tmp_path / MANIFEST).read_text(encoding="utf-8"))["train"]["overlong_dropped"] == 2
    capped = prepare_sweep(tiny_lm, [*SHORT, LONG], SHORT, tmp_path / "error", SPEC, max_train_examples=2)
    assert [f.example_id for f in capped.train] == ["s0", "s1"]  # the over-long third is never reached
