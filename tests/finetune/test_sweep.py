"""The issue's "Must show": a 2×2 sweep on real MMLU anatomy questions with the tiny Llama, on CPU.

One uninterrupted sweep (module fixture) is compared with a sweep SIGKILLed mid-trial and restarted, and its
chosen adapter is evaluated through medadapt-models against the merged model.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from medadapt.finetune.spec import SweepSpec, TrainingSpec
from medadapt.finetune.supervised import SupervisedPair
from medadapt.finetune.sweep import SweepResult, run_sweep

from .task_data import anatomy_pairs

SPEC = SweepSpec(
    ranks=(4, 8),
    learning_rates=(1e-3, 3e-3),
    training=TrainingSpec(max_epochs=2, batch_size=8, checkpoint_every_steps=2),
)


@pytest.fixture(scope="module")
def pairs(shared_data: Path, tiny_lm: Path) -> tuple[list[SupervisedPair], list[SupervisedPair]]:
    return anatomy_pairs(shared_data, tiny_lm)


@pytest.fixture(scope="module")
def uninterrupted(
    tiny_lm: Path,
    pairs: tuple[list[SupervisedPair], list[SupervisedPair]],
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[SweepResult, float]:
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        start = time.perf_counter()
        result = run_sweep(tiny_lm, *pairs, tmp_path_factory.mktemp("sweep") / "run", SPEC, progress=False)
        return result, time.perf_counter() - start
    finally:
        torch.set_num_threads(threads)


def test_two_by_two_sweep_finishes_in_minutes(uninterrupted: tuple[SweepResult, float]) -> None:
    result, seconds = uninterrupted
    assert len(result.trials) == 4
    assert seconds < 120


def test_validation_loss_falls_in_every_trial(uninterrupted: tuple[SweepResult, float]) -> None:
    for trial in uninterrupted[0].trials:
        losses = [row["val_loss"] for row in trial.history]
        assert losses[1] < losses[0], trial.trial_id
        assert trial.best_val_loss == min(losses)


def test_selected_trial_has_the_lowest_validation_loss(uninterrupted: tuple[SweepResult, float]) -> None:
    result = uninterrupted[0]
    assert result.best_trial.best_val_loss == min(t.best_val_loss for t in result.trials)
    with (result.out_dir / "summary.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["trial_id"] for r in rows if r["selected"] == "True"] == [result.best_trial.trial_id]
    saved = json.loads((result.out_dir / "best_model.json").read_text())
    assert saved["trial_id"] == result.best_trial.trial_id
    assert saved["model"]["lora"] == result.best_trial.adapter_dir == result.registry_entry.lora


def test_each_trial_writes_history_and_drops_its_checkpoints(
    uninterrupted: tuple[SweepResult, float],
) -> None:
    result = uninterrupted[0]
    for trial in result.trials:
        trial_dir = result.out_dir / "trials" / trial.trial_id
        with (trial_dir / "history.csv").open() as handle:
            rows = list(csv.DictReader(handle))
        assert len(rows) == trial.epochs_run and {"epoch", "train_loss", "val_loss"} <= set(rows[0])
        assert json.loads((trial_dir / "history.json").read_text()) == trial.history
        assert not list(trial_dir.glob("checkpoint-*"))
        assert (trial_dir / "best" / "adapter_model.safetensors").is_file()


_DRIVER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from medadapt.finetune.spec import SweepSpec
    from medadapt.finetune.supervised import SupervisedPair
    from medadapt.finetune.sweep import run_sweep
    from medadapt.finetune.training_loop import TrainingCallback

    job = json.loads(Path(sys.argv[1]).read_text())

    class StallInSecondTrial(TrainingCallback):
        # Stands in for a long trial: after the first checkpoint of trial 1, signal and wait to be killed.
        def on_checkpoint(self, trial, path, state):
            if trial.index == 1:
                Path(job["ready"]).write_text(str(state.global_step))
                time.sleep(600)

    pairs = {k: [SupervisedPair(**p) for p in job[k]] for k in ("train", "val")}
    run_sweep(job["base"], pairs["train"], pairs["val"], job["out"], SweepSpec.from_json(job["spec"]),
              callbacks=[StallInSecondTrial()], progress=False)
    """
)


def test_sweep_killed_mid_trial_resumes_to_the_same_result(
    tiny_lm: Path,
    pairs: tuple[list[SupervisedPair], list[SupervisedPair]],
    uninterrupted: tuple[SweepResult, float],
    tmp_path: Path,
) -> None:
    import torch
    from safetensors.torch import load_file

    out, ready = tmp_path / "run", tmp_path / "ready"
    job = {
        "base": str(tiny_lm),
        "out": str(out),
        "ready": str(ready),
        "spec": SPEC.to_json(),
        "train": [vars(p) for p in pairs[0]],
        "val": [vars(p) for p in pairs[1]],
    }
    (tmp_path / "job.json").write_text(json.dumps(job))
    (tmp_path / "driver.py").write_text(_DRIVER)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.Popen(
        [sys.executable, str(tmp_path / "driver.py"), str(tmp_path / "job.json")], env=env
    )
    try:
        deadline = time.monotonic() + 240
        while not ready.exists():
            assert proc.poll() is None, f"driver exited early with {proc.returncode}"
            assert time.monotonic() < deadline, "no checkpoint within 240 s"
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    killed_at = int(ready.read_text())
    trial_dirs = {t.trial.index: out / "trials" / t.trial_id for t in uninterrupted[0].trials}
    assert (trial_dirs[0] / "result.json").is_file()  # trial 0 had finished
    assert not (trial_dirs[1] / "result.json").exists()  # trial 1 was cut short
    assert [p.name for p in trial_dirs[1].glob("checkpoint-*")] == [f"checkpoint-{killed_at}"]
    first_result_time = (trial_dirs[0] / "result.json").stat().st_mtime_ns

    torch.set_num_threads(1)
    resumed = run_sweep(tiny_lm, *pairs, out, SPEC, progress=False)

    assert (trial_dirs[0] / "result.json").stat().st_mtime_ns == first_result_time  # not retrained
    by_index = {t.trial.index: t for t in resumed.trials}
    assert by_index[1].resumed_at == [killed_at]
    reference = uninterrupted[0]
    assert resumed.best_trial.trial_id == reference.best_trial.trial_id
    for expected in reference.trials:
        got = by_index[expected.trial.index]
        assert got.best_val_loss == pytest.approx(expected.best_val_loss, rel=1e-6, abs=1e-7)
        assert [r["val_loss"] for r in got.history] == pytest.approx(
            [r["val_loss"] for r in expected.history], rel=1e-6
        )
    a = load_file(str(Path(resumed.best_trial.adapter_dir) / "adapter_model.safetensors"))
    b = load_file(str(Path(reference.best_trial.adapter_dir) / "adapter_model.safetensors"))
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


# medadapt-models' HF adapter loads the LoRA with peft, which reads a property transformers 5 deprecates.
@pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")
def test_chosen_adapter_through_medadapt_models_predicts_like_the_merged_model(
    tiny_lm: Path,
    pairs: tuple[list[SupervisedPair], list[SupervisedPair]],
    uninterrupted: tuple[SweepResult, float],
    tmp_path: Path,
) -> None:
    import numpy as np

    from medadapt.decoding import option_token_ids
    from medadapt.finetune.merge import merge_adapter
    from medadapt.models.loading import load_adapter

    result = uninterrupted[0]
    merged_dir = merge_adapter(tiny_lm, result.best_trial.adapter_dir, tmp_path / "merged")
    prompts = [p.prompt for p in pairs[1]]
    with_lora = load_adapter(result.registry_entry, dtype="float32", device="cpu")
    merged = load_adapter(merged_dir, dtype="float32", device="cpu")
    try:
        options = option_token_ids(with_lora.tokenizer, ["A", "B", "C", "D"], prompt_tail=prompts[0][-8:])
        a = with_lora.score_options(prompts, options)
        b = merged.score_options(prompts, options)
        assert np.array_equal(a.predictions, b.predictions)
        np.testing.assert_allclose(a.logprobs, b.logprobs, atol=1e-4)
        ga = with_lora.generate(prompts[:4], max_new_tokens=8)
        gb = merged.generate(prompts[:4], max_new_tokens=8)
        assert [g.text for g in ga] == [g.text for g in gb]
    finally:
        with_lora.close()
        merged.close()
