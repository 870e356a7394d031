from __future__ import annotations

from pathlib import Path

import pytest
import torch

from medadapt.finetune.checkpoint import TrainState, latest_checkpoint, load_checkpoint, save_checkpoint


def _setup(seed: int) -> tuple[torch.nn.Module, torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    from transformers import get_scheduler

    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 2))
    model[0].weight.requires_grad_(False)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    scheduler = get_scheduler("cosine", optimizer, num_warmup_steps=1, num_training_steps=10)
    return model, optimizer, scheduler


def _step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: object) -> None:
    model(torch.randn(3, 4)).pow(2).sum().backward()
    optimizer.step()
    scheduler.step()  # type: ignore[attr-defined]
    optimizer.zero_grad()


def test_round_trip_restores_weights_optimizer_scheduler_and_rng(tmp_path: Path) -> None:
    model, optimizer, scheduler = _setup(0)
    for _ in range(3):
        _step(model, optimizer, scheduler)
    state = TrainState(epoch=1, step_in_epoch=2, global_step=3, best_val_loss=1.5, history=[{"epoch": 1}])
    path = save_checkpoint(tmp_path, model, optimizer, scheduler, state)
    assert path.name == "checkpoint-3" and latest_checkpoint(tmp_path) == path
    expected_next = torch.rand(2)

    fresh, fresh_opt, fresh_sched = _setup(1)
    with torch.no_grad():  # the frozen base comes from its own files, not from the checkpoint
        fresh[0].weight.copy_(model[0].weight)
    restored = load_checkpoint(path, fresh, fresh_opt, fresh_sched)
    assert restored == state
    assert torch.equal(torch.rand(2), expected_next)  # RNG restored to the saved point
    assert torch.equal(fresh[1].weight, model[1].weight)
    assert fresh_sched.get_last_lr() == scheduler.get_last_lr()
    torch.manual_seed(5)
    _step(model, optimizer, scheduler)
    torch.manual_seed(5)
    _step(fresh, fresh_opt, fresh_sched)
    assert torch.equal(fresh[1].weight, model[1].weight)  # Adam moments came back too


def test_newer_checkpoint_replaces_older_and_incomplete_ones_are_ignored(tmp_path: Path) -> None:
    model, optimizer, scheduler = _setup(0)
    save_checkpoint(tmp_path, model, optimizer, scheduler, TrainState(global_step=2))
    save_checkpoint(tmp_path, model, optimizer, scheduler, TrainState(global_step=4))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-4"]
    (tmp_path / "checkpoint-9").mkdir()  # killed before state.json was written
    assert latest_checkpoint(tmp_path) == tmp_path / "checkpoint-4"


def test_a_checkpoint_of_another_model_is_refused(tmp_path: Path) -> None:
    model, optimizer, scheduler = _setup(0)
    path = save_checkpoint(tmp_path, model, optimizer, scheduler, TrainState(global_step=1))
    other = torch.nn.Sequential(torch.nn.Linear(4, 3))
    with pytest.raises(ValueError, match="trainable parameters"):
        load_checkpoint(path, other, torch.optim.AdamW(other.parameters()), scheduler)


def test_optimizer_file_loads_without_pickle(tmp_path: Path) -> None:
    model, optimizer, scheduler = _setup(0)
    _step(model, optimizer, scheduler)
    path = save_checkpoint(tmp_path, model, optimizer, scheduler, TrainState(global_step=1))
    torch.load(path / "optimizer.pt", weights_only=True)
