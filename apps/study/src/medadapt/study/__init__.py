"""medadapt-study: The medadapt study app: plan, prompt selection, evaluation, fine-tuning, statistics and report (CLI medadapt)."""

from __future__ import annotations

from importlib.metadata import version as _version

__version__ = _version("medadapt-study")
