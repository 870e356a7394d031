"""medadapt-finetune: LoRA/PEFT fine-tuning, hyper-parameter sweeps and best-checkpoint selection for medadapt models."""

from __future__ import annotations

from importlib.metadata import version as _version

__version__ = _version("medadapt-finetune")
