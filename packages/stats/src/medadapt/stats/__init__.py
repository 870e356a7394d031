"""medadapt-stats: paired statistics that decide whether model a beats model b (win / tie / loss), usable alone.

Names are imported lazily so `import medadapt.stats` stays cheap: statsmodels and matplotlib load only when a
function that needs them is first used.
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import version as _version
from typing import TYPE_CHECKING, Any

__version__ = _version("medadapt-stats")

_EXPORTS = {
    "PairedResult": "bootstrap",
    "BootstrapArrays": "bootstrap",
    "paired_bootstrap": "bootstrap",
    "bootstrap_from_counts": "bootstrap",
    "mcnemar": "exact_tests",
    "permutation_test": "exact_tests",
    "PermutationResult": "exact_tests",
    "correct_pvalues": "multiplicity",
    "VerdictRule": "verdicts",
    "compare_family": "family",
    "FamilyResult": "family",
    "CellComparison": "family",
    "compare_seeds": "seeds",
    "SeedComparison": "seeds",
    "win_tie_loss": "rates",
    "WinTieLoss": "rates",
    "ece": "calibration",
    "brier": "calibration",
    "reliability": "calibration",
    "ReliabilityData": "calibration",
    "forest_plot": "figures",
    "verdict_bars": "figures",
    "reliability_diagram": "figures",
}

__all__ = [
    "BootstrapArrays",
    "CellComparison",
    "FamilyResult",
    "PairedResult",
    "PermutationResult",
    "ReliabilityData",
    "SeedComparison",
    "VerdictRule",
    "WinTieLoss",
    "__version__",
    "bootstrap_from_counts",
    "brier",
    "compare_family",
    "compare_seeds",
    "correct_pvalues",
    "ece",
    "forest_plot",
    "mcnemar",
    "paired_bootstrap",
    "permutation_test",
    "reliability",
    "reliability_diagram",
    "verdict_bars",
    "win_tie_loss",
]

if TYPE_CHECKING:
    from medadapt.stats.bootstrap import (
        BootstrapArrays,
        PairedResult,
        bootstrap_from_counts,
        paired_bootstrap,
    )
    from medadapt.stats.calibration import ReliabilityData, brier, ece, reliability
    from medadapt.stats.exact_tests import PermutationResult, mcnemar, permutation_test
    from medadapt.stats.family import CellComparison, FamilyResult, compare_family
    from medadapt.stats.figures import forest_plot, reliability_diagram, verdict_bars
    from medadapt.stats.multiplicity import correct_pvalues
    from medadapt.stats.rates import WinTieLoss, win_tie_loss
    from medadapt.stats.seeds import SeedComparison, compare_seeds
    from medadapt.stats.verdicts import VerdictRule


def __getattr__(name: str) -> Any:
    """Load the module that defines `name` on first access."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'medadapt.stats' has no attribute {name!r}")
    value = getattr(import_module(f"medadapt.stats.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
