"""medadapt-prompts: QA task schema, dataset loaders, the prompt-format grammar, rendering, chat templates and few-shot selection."""

from __future__ import annotations

from importlib.metadata import version as _version

__version__ = _version("medadapt-prompts")
