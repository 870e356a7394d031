"""A LoRA sweep over the study's grid: resumable trials, best by validation loss, result as a registry entry."""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from medadapt.finetune.base_model import ModelSource, load_base_model, load_tokenizer
from medadapt.finetune.parameters import LoraSelection
from medadapt.finetune.runtime import Runtime
from medadapt.finetune.selection import select_best_trial
from medadapt.finetune.spec import SweepSpec, TrialSpec
from medadapt.finetune.supervised import SupervisedFeatures, SupervisedPair, encode_pairs
from medadapt.finetune.training_loop import TrainingCallback, TrialResult, load_trial_result, train_trial

__all__ = ["SweepResult", "SweepSetup", "prepare_sweep", "run_sweep", "run_trial"]

MANIFEST = "sweep.json"
BEST_ENTRY = "best_model.json"


@dataclass(frozen=True)
class SweepResult:
    """The finished sweep: every trial, the winner, and a ModelSpec (base + adapter) medadapt-models can load."""

    best_trial: TrialResult
    trials: list[TrialResult]
    registry_entry: Any
    out_dir: Path


@dataclass(frozen=True)
class SweepSetup:
    """Everything a trial needs, prepared once: the base, its tokenizer and the encoded data."""

    source: ModelSource
    tokenizer: Any
    train: tuple[SupervisedFeatures, ...]
    val: tuple[SupervisedFeatures, ...]
    pad_token_id: int
    out_dir: Path
    spec: SweepSpec

    def trial_dir(self, trial: TrialSpec) -> Path:
        """Where a trial keeps its checkpoints, best adapter, history and result."""
        return self.out_dir / "trials" / trial.trial_id


def _fingerprint(features: Sequence[SupervisedFeatures]) -> str:
    """A hash of the token ids and labels, so a resumed sweep refuses to mix different data."""
    digest = hashlib.sha256()
    for f in features:
        digest.update(json.dumps([f.example_id, f.input_ids, f.labels]).encode("utf-8"))
    return digest.hexdigest()


def _encode(
    source: ModelSource, tokenizer: Any, pairs: Sequence[Any], max_length: int | None
) -> list[SupervisedFeatures]:
    """Encode text (causal LM) or text + images (LLaVA) pairs."""
    if pairs and not isinstance(pairs[0], SupervisedPair):
        raise TypeError(
            f"training data: expected SupervisedPair items, got {type(pairs[0]).__name__}; "
            "turn QAExamples into pairs with medadapt.finetune.training_pairs(...)"
        )
    if source.kind == "llava":
        from medadapt.finetune.vlm import encode_vlm_pairs

        return encode_vlm_pairs(tokenizer, pairs, max_length=max_length)
    if source.kind == "flamingo":
        from medadapt.finetune.flamingo import encode_flamingo_pairs

        return encode_flamingo_pairs(tokenizer, pairs, max_length=max_length)
    return encode_pairs(tokenizer, pairs, max_length=max_length)


def prepare_sweep(
    base: Any,
    train: Sequence[SupervisedPair],
    val: Sequence[SupervisedPair],
    out_dir: str | Path,
    spec: SweepSpec,
) -> SweepSetup:
    """Resolve the base, encode the data, and write (or check) the sweep manifest in `out_dir`."""
    source = ModelSource.of(base)
    tokenizer = load_tokenizer(source)
    text_tokenizer = getattr(tokenizer, "tokenizer", tokenizer)
    max_length = spec.training.max_length or _context_length(source)
    train_features = _encode(source, tokenizer, train, max_length)
    val_features = _encode(source, tokenizer, val, max_length)
    pad = text_tokenizer.pad_token_id
    if pad is None:
        pad = text_tokenizer.eos_token_id  # the study's rule: pad = EOS when the tokenizer has none
    out = Path(out_dir).expanduser().resolve()
    manifest = {
        "spec": json.loads(spec.to_json()),
        "base": source.path,
        "kind": source.kind,
        "train": {"n": len(train_features), "sha256": _fingerprint(train_features)},
        "val": {"n": len(val_features), "sha256": _fingerprint(val_features)},
    }
    path = out / MANIFEST
    if path.is_file():
        existing = json.loads(path.read_text(encoding="utf-8"))
        if existing != manifest:
            changed = sorted(k for k in manifest if existing.get(k) != manifest[k])
            raise ValueError(
                f"{path}: this directory holds a sweep with different {changed}; use another out_dir "
                "or delete it to start over"
            )
    else:
        out.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(manifest, indent=1, sort_keys=True), encoding="utf-8")
    return SweepSetup(source, tokenizer, tuple(train_features), tuple(val_features), int(pad), out, spec)


def _context_length(source: ModelSource) -> int | None:
    if source.kind == "flamingo":
        return source.model_spec.context_length
    config_file = Path(source.path) / "config.json"
    if not config_file.is_file():
        return None
    config = json.loads(config_file.read_text(encoding="utf-8"))
    text_config = config.get("text_config") or {}
    value = config.get("max_position_embeddings") or text_config.get("max_position_embeddings")
    return int(value) if value else None


def run_trial(
    setup: SweepSetup,
    trial: TrialSpec,
    *,
    callbacks: Sequence[TrainingCallback] = (),
    progress: bool = True,
    keep_checkpoints: bool = False,
) -> TrialResult:
    """Train (or resume, or just read back) one trial of the sweep."""
    trial_dir = setup.trial_dir(trial)
    trial_dir.mkdir(parents=True, exist_ok=True)
    (trial_dir / "trial.json").write_text(trial.model_dump_json(indent=1), encoding="utf-8")
    source = setup.source

    def load_model(runtime: Runtime) -> Any:
        return load_base_model(source, runtime.load_dtype)

    return train_trial(
        trial,
        load_model=load_model,
        selection=_selection(setup, trial),
        train=setup.train,
        val=setup.val,
        trial_dir=trial_dir,
        pad_token_id=setup.pad_token_id,
        save_extras=setup.tokenizer.save_pretrained,
        callbacks=callbacks,
        progress=progress,
        keep_checkpoints=keep_checkpoints,
    )


def _selection(setup: SweepSetup, trial: TrialSpec) -> Any:
    """LoRA (causal LM, LLaVA); Flamingo trains its resampler, cross-attention and two token rows instead."""
    if setup.source.kind == "flamingo":
        from medadapt.finetune.flamingo import FlamingoSelection

        return FlamingoSelection(special_token_ids=setup.tokenizer.special_token_ids())
    return LoraSelection(trial.lora, kind=setup.source.kind)


def _write_summary(out_dir: Path, results: Sequence[TrialResult], best: TrialResult) -> None:
    rows = [
        {
            "index": r.trial.index,
            "trial_id": r.trial_id,
            "r": r.trial.lora.r,
            "learning_rate": r.trial.training.learning_rate,
            "best_val_loss": r.best_val_loss,
            "best_epoch": r.best_epoch,
            "epochs_run": r.epochs_run,
            "stopped_early": r.stopped_early,
            "selected": r.trial_id == best.trial_id,
        }
        for r in sorted(results, key=lambda r: r.trial.index)
    ]
    (out_dir / "summary.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
    with (out_dir / "summary.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def run_sweep(
    base: Any,
    train: Sequence[SupervisedPair],
    val: Sequence[SupervisedPair],
    out_dir: str | Path,
    spec: SweepSpec | None = None,
    *,
    name: str | None = None,
    executor: Literal["sequential", "ray"] = "sequential",
    ray_address: str | None = None,
    callbacks: Sequence[TrainingCallback] = (),
    progress: bool = True,
    keep_checkpoints: bool = False,
) -> SweepResult:
    """Run every trial of `spec` on (`train`, `val`), pick the lowest validation loss and register the winner.

    `base` is a medadapt-models ModelSpec, registry name or checkpoint directory. Re-running with the same
    `out_dir` skips finished trials and resumes an interrupted one from its newest checkpoint.
    """
    spec = spec or SweepSpec()
    setup = prepare_sweep(base, train, val, out_dir, spec)
    trials = spec.trials()
    if executor == "sequential":
        results = [
            run_trial(setup, t, callbacks=callbacks, progress=progress, keep_checkpoints=keep_checkpoints)
            for t in trials
        ]
    elif executor == "ray":
        from medadapt.finetune.ray_executor import run_trials_with_ray

        run_trials_with_ray(setup, trials, address=ray_address, keep_checkpoints=keep_checkpoints)
        results = []
        for t in trials:
            result = load_trial_result(setup.trial_dir(t))
            if result is None:
                raise RuntimeError(
                    f"ray executor: trial {t.trial_id} did not finish (see {setup.trial_dir(t)})"
                )
            results.append(result)
    else:
        raise ValueError(f"executor: expected 'sequential' or 'ray', got {executor!r}")
    best = select_best_trial(results)
    _write_summary(setup.out_dir, results, best)
    base_spec = setup.source.model_spec
    entry = base_spec.with_overrides(
        name=name or f"{base_spec.name}-lora-best",
        lora=best.adapter_dir,
        source=f"medadapt-finetune sweep {setup.out_dir}",
    )
    (setup.out_dir / BEST_ENTRY).write_text(
        json.dumps({"trial_id": best.trial_id, "model": entry.model_dump(mode="json")}, indent=1),
        encoding="utf-8",
    )
    return SweepResult(best_trial=best, trials=results, registry_entry=entry, out_dir=setup.out_dir)
