from __future__ import annotations

import pytest
from pydantic import ValidationError

from medadapt.finetune.spec import STUDY_LEARNING_RATES, STUDY_LORA_RANKS, SweepSpec, TrainingSpec


def test_defaults_are_the_study_grid() -> None:
    spec = SweepSpec()
    assert spec.ranks == STUDY_LORA_RANKS == (16, 32, 64)
    assert spec.learning_rates == STUDY_LEARNING_RATES == (1e-5, 2e-5, 5e-5, 1e-4, 2e-4)
    assert (spec.lora.alpha, spec.lora.dropout, spec.lora.target_modules) == (16.0, 0.0, "all-linear")
    t = spec.training
    assert (t.lr_scheduler, t.warmup_ratio, t.max_epochs, t.early_stopping_patience) == (
        "cosine",
        0.05,
        10,
        1,
    )
    assert t.weight_decay == 0.0 and not t.study_compat
    assert len(spec.trials()) == 15


def test_trials_enumerate_lr_outer_rank_inner_with_unique_ids() -> None:
    trials = SweepSpec(ranks=(4, 8), learning_rates=(1e-3, 2e-3)).trials()
    assert [(t.training.learning_rate, t.lora.r) for t in trials] == [
        (1e-3, 4),
        (1e-3, 8),
        (2e-3, 4),
        (2e-3, 8),
    ]
    assert [t.index for t in trials] == [0, 1, 2, 3]
    assert len({t.trial_id for t in trials}) == 4


def test_json_and_yaml_round_trip(tmp_path) -> None:  # type: ignore[no-untyped-def]
    spec = SweepSpec(ranks=(4,), learning_rates=(1e-3,), training=TrainingSpec(batch_size=4, max_epochs=2))
    assert SweepSpec.from_json(spec.to_json()) == spec
    assert SweepSpec.from_yaml(spec.to_yaml()) == spec
    path = tmp_path / "sweep.yaml"
    path.write_text(spec.to_yaml())
    assert SweepSpec.from_file(path) == spec


@pytest.mark.parametrize("bad", [{"ranks": ()}, {"ranks": (4, 4)}, {"learning_rates": (0.0,)}])
def test_bad_grids_are_rejected(bad: dict) -> None:
    with pytest.raises(ValidationError):
        SweepSpec(**bad)


def test_unknown_fields_are_rejected() -> None:
    with pytest.raises(ValidationError, match="lerning_rate"):
        TrainingSpec(lerning_rate=1e-3)  # type: ignore[call-arg]
