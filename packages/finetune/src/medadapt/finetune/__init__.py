"""medadapt-finetune: LoRA/PEFT fine-tuning, hyper-parameter sweeps and best-checkpoint selection for medadapt models."""

from __future__ import annotations

from importlib.metadata import version as _version
from typing import Any

__version__ = _version("medadapt-finetune")

# Public names resolve lazily so that `import medadapt.finetune` stays cheap (torch loads on first use).
_EXPORTS: dict[str, str] = {
    "LoraConfigSpec": "medadapt.finetune.spec",
    "SweepSpec": "medadapt.finetune.spec",
    "TrainingSpec": "medadapt.finetune.spec",
    "TrialSpec": "medadapt.finetune.spec",
    "STUDY_LORA_RANKS": "medadapt.finetune.spec",
    "STUDY_LEARNING_RATES": "medadapt.finetune.spec",
    "SupervisedPair": "medadapt.finetune.supervised",
    "SupervisedFeatures": "medadapt.finetune.supervised",
    "encode_pair": "medadapt.finetune.supervised",
    "training_pairs": "medadapt.finetune.task_pairs",
    "run_sweep": "medadapt.finetune.sweep",
    "SweepResult": "medadapt.finetune.sweep",
    "TrialResult": "medadapt.finetune.training_loop",
    "TrainingCallback": "medadapt.finetune.training_loop",
    "train_trial": "medadapt.finetune.training_loop",
    "select_best_trial": "medadapt.finetune.selection",
    "merge_adapter": "medadapt.finetune.merge",
    "continued_pretraining": "medadapt.finetune.pretraining",
    "PretrainingSpec": "medadapt.finetune.pretraining",
    "ModelSource": "medadapt.finetune.base_model",
    "LoraSelection": "medadapt.finetune.parameters",
    "FlamingoSelection": "medadapt.finetune.flamingo",
    "render_accelerate_config": "medadapt.finetune.distributed",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'medadapt.finetune' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
