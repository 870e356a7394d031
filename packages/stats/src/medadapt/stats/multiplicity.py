"""Multiple-testing correction over a family of comparisons (Holm, Benjamini–Hochberg) via statsmodels."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from medadapt.stats.verdicts import CORRECTIONS, Correction


def correct_pvalues(
    pvals: ArrayLike, method: Correction = "holm", alpha: float = 0.05
) -> NDArray[np.float64]:
    """Adjusted p-values in input order: "holm" (FWER), "fdr_bh" (FDR), "bonferroni", or "none"."""
    p = np.asarray(pvals, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError(f"pvals must be one-dimensional, got shape {p.shape}")
    bad = np.flatnonzero(~((p >= 0) & (p <= 1)))
    if bad.size:
        raise ValueError(f"pvals must lie in [0, 1]: entry {int(bad[0])} is {p[bad[0]].item()!r}")
    if method not in CORRECTIONS:
        raise ValueError(f"method must be one of {CORRECTIONS}, got {method!r}")
    if method == "none" or p.size == 0:
        return p.copy()
    from statsmodels.stats.multitest import multipletests

    return np.asarray(multipletests(p, alpha=alpha, method=method)[1], dtype=np.float64)
