"""Corrections equal statsmodels (and an independent textbook Holm / BH) on random p-values."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

from medadapt.stats import correct_pvalues


def _holm(p: np.ndarray) -> np.ndarray:
    order = np.argsort(p)
    m = p.size
    adjusted = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.minimum(adjusted, 1.0)
    return out


def _bh(p: np.ndarray) -> np.ndarray:
    order = np.argsort(p)[::-1]
    m = p.size
    ranks = np.arange(m, 0, -1)
    adjusted = np.minimum.accumulate(p[order] * m / ranks)
    out = np.empty(m)
    out[order] = np.minimum(adjusted, 1.0)
    return out


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize(("method", "reference"), [("holm", _holm), ("fdr_bh", _bh)])
def test_corrections_equal_statsmodels_and_textbook(
    seed: int, method: str, reference: Callable[[np.ndarray], np.ndarray]
) -> None:
    rng = np.random.default_rng(seed)
    p = np.concatenate([rng.random(int(rng.integers(1, 60))), rng.random(5) * 1e-3])
    ours = correct_pvalues(p, method)  # type: ignore[arg-type]
    np.testing.assert_allclose(ours, multipletests(p, method=method)[1], rtol=1e-12)
    np.testing.assert_allclose(ours, reference(p), rtol=1e-12)


def test_none_and_bad_input() -> None:
    np.testing.assert_array_equal(correct_pvalues([0.2, 0.01], "none"), [0.2, 0.01])
    with pytest.raises(ValueError, match=r"entry 1 is 1.5"):
        correct_pvalues([0.1, 1.5])
    with pytest.raises(ValueError, match="method must be one of"):
        correct_pvalues([0.1], "sidak")  # type: ignore[arg-type]
