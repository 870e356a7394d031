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


def test_a_small_base_is_read_once_and_copied_for_each_trial(tiny_lm: Path) -> None:
    import torch

    from medadapt.finetune import sweep_setup
    from medadapt.finetune.runtime import Runtime

    runtime = Runtime.create("fp32", "cpu")
    loader = sweep_setup.BaseLoader(ModelSource.of(tiny_lm))
    torch.manual_seed(3)
    first = loader(runtime)
    assert torch.equal(torch.rand(4), (torch.manual_seed(3), torch.rand(4))[1])  # loading drew no random numbers
    second = loader(runtime)
    assert second is not first and loader._kept is not None and loader._kept[1] not in (first, second)
    for (name, a), (_, b) in zip(first.state_dict().items(), second.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
        assert a.data_ptr() != b.data_ptr(), name  # a copy: training one trial cannot touch the next


def test_a_large_base_is_loaded_afresh_for_each_trial(tiny_lm: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from medadapt.finetune import sweep_setup
    from medadapt.finetune.runtime import Runtime

    monkeypatch.setattr(sweep_setup, "COPY_BASE_UP_TO_BYTES", 0)  # every model counts as large
    loader = sweep_setup.BaseLoader(ModelSource.of(tiny_lm))
    runtime = Runtime.create("fp32", "cpu")
    assert loader(runtime) is not loader(runtime) and loader._kept is None
