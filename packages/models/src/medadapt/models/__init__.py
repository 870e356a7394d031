"""medadapt-models: One adapter protocol for LLMs and VLMs (transformers, vLLM, LLaVA, Flamingo, visual-expert chaining) and the model-pair registry."""

from __future__ import annotations

from importlib.metadata import version as _version

__version__ = _version("medadapt-models")
