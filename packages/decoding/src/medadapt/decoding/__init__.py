"""medadapt-decoding: vocabulary-constrained log-prob decoding."""

from __future__ import annotations

from importlib.metadata import version as _version

__version__ = _version("medadapt-decoding")
