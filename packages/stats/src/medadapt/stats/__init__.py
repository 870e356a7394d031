"""medadapt-stats: Paired statistics for model comparisons: bootstrap CIs, exact tests, multiple-testing correction, verdicts."""

from __future__ import annotations

from importlib.metadata import version as _version

__version__ = _version("medadapt-stats")
