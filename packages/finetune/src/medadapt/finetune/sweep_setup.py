"""A prepared sweep (base, tokenizer, encoded data, manifest) and how one of its trials runs.

Both executors (sequential in `sweep`, Ray in `ray_executor`) run trials through `run_trial` from here.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medadapt.finetune.base_model import ModelSource, load_base_model, load_tokenizer
from medadapt.finetune.parameters import LoraSelection
from medadapt.finetune.runtime import Runtime
from medadapt.finetune.spec import Overlong, SweepSpec, TrialSpec
from medadapt.finetune.supervised import SupervisedFeatures, SupervisedPair, encode_pairs
from medadapt.finetune.training_loop import TrainingCallback, TrialResult, train_trial

__all__ = ["MANIFEST", "BaseLoader", "SweepSetup", "prepare_sweep", "run_trial"]

log = logging.getLogger("medadapt.finetune")

MANIFEST = "sweep.json"
# Bases up to this size are kept in memory by a sweep and copied for each trial instead of being read again.
COPY_BASE_UP_TO_BYTES = 256 * 2**20


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


def _fitting(
    source: ModelSource,
    tokenizer: Any,
    pairs: Sequence[Any],
    max_length: int | None,
    overlong: Overlong,
    split: str,
    limit: int | None = None,
) -> tuple[list[SupervisedFeatures], int]:
    """The first `limit` (default: all) encoded examples, and how many were left out on the way for being longer
    than `max_length` (`overlong="drop"`; `"error"` raises on the first one, naming it)."""
    if overlong == "error" or max_length is None:
        return _encode(source, tokenizer, pairs[:limit] if limit is not None else pairs, max_length), 0
    kept: list[SupervisedFeatures] = []
    dropped = 0
    for pair in pairs:
        if limit is not None and len(kept) >= limit:
            break
        [features] = _encode(source, tokenizer, [pair], None)
        if len(features.input_ids) <= max_length:
            kept.append(features)
        else:
            dropped += 1
    if pairs and not kept:
        raise ValueError(
            f"{split} data: all {len(pairs)} examples are longer than the model's {max_length} tokens; "
            "nothing is left to train on"
        )
    if dropped:
        log.warning("%s data: %d examples are longer than the model's %d tokens and are left out",
                    split, dropped, max_length)
    return kept, dropped


def _split_record(features: Sequence[SupervisedFeatures], dropped: int) -> dict[str, Any]:
    """A split's manifest entry; the over-long count only when some were left out (older manifests still match)."""
    record: dict[str, Any] = {"n": len(features), "sha256": _fingerprint(features)}
    if dropped:
        record["overlong_dropped"] = dropped
    return record


def prepare_sweep(
    base: Any,
    train: Sequence[SupervisedPair],
    val: Sequence[SupervisedPair],
    out_dir: str | Path,
    spec: SweepSpec,
    *,
    overlong: Overlong = "error",
    max_train_examples: int | None = None,
) -> SweepSetup:
    """Resolve the base, encode the data, and write (or check) the sweep manifest in `out_dir`; train on the first
    `max_train_examples` training examples (that fit, with `overlong="drop"`)."""
    source = ModelSource.of(base)
    tokenizer = load_tokenizer(source)
    text_tokenizer = getattr(tokenizer, "tokenizer", tokenizer)
    max_length = spec.training.max_length or _context_length(source)
    train_features, train_dropped = _fitting(
        source, tokenizer, train, max_length, overlong, "training", max_train_examples
    )
    val_features, val_dropped = _fitting(source, tokenizer, val, max_length, overlong, "validation")
    pad = text_tokenizer.pad_token_id
    if pad is None:
        pad = text_tokenizer.eos_token_id  # the study's rule: pad = EOS when the tokenizer has none
    out = Path(out_dir).expanduser().resolve()
    manifest = {
        "spec": json.loads(spec.to_json()),
        "base": source.path,
        "kind": source.kind,
        "train": _split_record(train_features, train_dropped),
        "val": _split_record(val_features, val_dropped),
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
    bases: BaseLoader | None = None,
) -> TrialResult:
    """Train (or resume, or just read back) one trial of the sweep; `bases` shared by the trials of one process
    lets a small base be loaded once."""
    trial_dir = setup.trial_dir(trial)
    trial_dir.mkdir(parents=True, exist_ok=True)
    (trial_dir / "trial.json").write_text(trial.model_dump_json(indent=1), encoding="utf-8")
    return train_trial(
        trial,
        load_model=bases or BaseLoader(setup.source),
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


class BaseLoader:
    """Loads the frozen base for each trial. A base of at most `COPY_BASE_UP_TO_BYTES` is read from disk once and
    copied for every later trial (a copy of a small model costs a fraction of a load; loading leaves the trial's random
    numbers alone, so the trials are the same either way); a larger one is loaded afresh, never held twice."""

    def __init__(self, source: ModelSource) -> None:
        self.source = source
        self._kept: tuple[Any, Any] | None = None  # (dtype, pristine base)

    def __call__(self, runtime: Runtime) -> Any:
        import copy

        import torch

        from medadapt.models.capabilities import parameter_bytes

        dtype = runtime.load_dtype
        if self._kept is not None and self._kept[0] == dtype:
            return copy.deepcopy(self._kept[1])
        with torch.random.fork_rng(devices=[]):  # whatever a build draws (Flamingo's fresh layers), trials draw alike
            model = load_base_model(self.source, dtype)
        if parameter_bytes(model) <= COPY_BASE_UP_TO_BYTES:
            self._kept = (dtype, model)
            return copy.deepcopy(model)
        return model


def _selection(setup: SweepSetup, trial: TrialSpec) -> Any:
    """LoRA (causal LM, LLaVA); Flamingo trains its resampler, cross-attention and two token rows instead."""
    if setup.source.kind == "flamingo":
        from medadapt.finetune.flamingo import FlamingoSelection

        return FlamingoSelection(special_token_ids=setup.tokenizer.special_token_ids())
    return LoraSelection(trial.lora, kind=setup.source.kind)
