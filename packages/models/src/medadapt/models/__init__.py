"""medadapt-models: One adapter protocol for LLMs and VLMs (transformers, vLLM, LLaVA, Flamingo, visual-expert chaining) and the model-pair registry."""

from __future__ import annotations

from importlib.metadata import version as _version

from medadapt.models.adapter_io import Capabilities, Generation, ModelInput, ScoreResult
from medadapt.models.loading import list_adapters, load_adapter
from medadapt.models.protocol import Adapter
from medadapt.models.registry import PAIRS, ModelPair, ModelSpec, get_model, list_models, list_pairs

__version__ = _version("medadapt-models")

__all__ = [
    "PAIRS",
    "Adapter",
    "Capabilities",
    "Generation",
    "ModelInput",
    "ModelPair",
    "ModelSpec",
    "ScoreResult",
    "__version__",
    "get_model",
    "list_adapters",
    "list_models",
    "list_pairs",
    "load_adapter",
]
