from __future__ import annotations

from pathlib import Path

import pytest

from medadapt.finetune.base_model import ModelSource
from medadapt.finetune.spec import SweepSpec
from medadapt.finetune.supervised import SupervisedPair
from medadapt.finetune.sweep import prepare_sweep


def _pairs(answer: str) -> list[SupervisedPair]:
    return [
        SupervisedPair(prompt=f"Question {i}?\nAnswer:", target=f" ({answer})", example_id=str(i))
        for i in range(3)
    ]


def test_a_sweep_directory_refuses_other_data(tiny_lm: Path, tmp_path: Path) -> None:
    spec = SweepSpec(ranks=(4,), learning_rates=(1e-3,))
    setup = prepare_sweep(tiny_lm, _pairs("A"), _pairs("B"), tmp_path, spec)
    assert setup.pad_token_id is not None and len(setup.train) == 3
    prepare_sweep(tiny_lm, _pairs("A"), _pairs("B"), tmp_path, spec)  # same data: fine (resume)
    with pytest.raises(ValueError, match=r"sweep.json.*\['train'\]"):
        prepare_sweep(tiny_lm, _pairs("C"), _pairs("B"), tmp_path, spec)


def test_questions_instead_of_pairs_are_refused_with_a_hint(tiny_lm: Path, tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="training_pairs"):
        prepare_sweep(tiny_lm, ["not a pair"], _pairs("B"), tmp_path, SweepSpec())  # type: ignore[list-item]


def test_a_base_that_already_has_an_adapter_is_refused(tiny_lm: Path) -> None:
    from medadapt.models.registry import spec_from_path

    spec = spec_from_path(tiny_lm).with_overrides(lora="/somewhere")
    with pytest.raises(ValueError, match="merge it first"):
        ModelSource.of(spec)
    assert ModelSource.of(tiny_lm).kind == "causal-lm"
