"""The Ray Tune executor gives the same trials and winner as the sequential one (starts a local Ray)."""

from __future__ import annotations

from pathlib import Path

import pytest

from medadapt.finetune.spec import SweepSpec, TrainingSpec
from medadapt.finetune.sweep import run_sweep

from .task_data import anatomy_pairs

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def test_ray_executor_matches_sequential(shared_data: Path, tiny_lm: Path, tmp_path: Path) -> None:
    pytest.importorskip("ray.tune", reason="needs the 'ray' extra")
    train, val = anatomy_pairs(shared_data, tiny_lm)
    spec = SweepSpec(ranks=(4, 8), learning_rates=(1e-3,), training=TrainingSpec(max_epochs=1, batch_size=8))
    sequential = run_sweep(tiny_lm, train[:16], val[:8], tmp_path / "seq", spec, progress=False)
    with_ray = run_sweep(tiny_lm, train[:16], val[:8], tmp_path / "ray", spec, executor="ray", progress=False)
    assert with_ray.best_trial.trial_id == sequential.best_trial.trial_id
    for a, b in zip(with_ray.trials, sequential.trials, strict=True):
        assert a.best_val_loss == pytest.approx(b.best_val_loss, rel=1e-5)
