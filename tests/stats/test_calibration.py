"""ECE (binning stated), Brier and reliability data on constructed cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from medadapt.stats import brier, ece, reliability


def test_perfectly_calibrated_bins_give_zero_ece() -> None:
    # 10 items at confidence 0.8 of which 8 are right, 10 at 0.6 with 6 right (4 options).
    probs = np.array([[0.8, 0.1, 0.05, 0.05]] * 10 + [[0.6, 0.2, 0.1, 0.1]] * 10)
    labels = np.array([0] * 8 + [1] * 2 + [0] * 6 + [2] * 4)
    assert ece(probs, labels) == pytest.approx(0.0, abs=1e-12)
    data = reliability(probs, labels, n_bins=10)
    assert "10 equal-width bins" in data.binning and data.counts.sum() == 20


def test_overconfident_model_has_known_ece_and_brier() -> None:
    probs = np.array([[0.9, 0.1]] * 10)
    labels = np.array([0] * 5 + [1] * 5)
    assert ece(probs, labels) == pytest.approx(0.4)
    assert ece(probs, labels, binning="equal_mass", n_bins=2) == pytest.approx(0.4)
    assert brier(probs, labels) == pytest.approx(0.5 * 0.02 + 0.5 * 1.62)


def test_equal_mass_bins_hold_near_equal_counts() -> None:
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(4), size=103)
    data = reliability(probs, rng.integers(0, 4, 103), n_bins=5, binning="equal_mass")
    assert (
        data.counts.sum() == 103 and all(19 <= c <= 22 for c in data.counts) and "equal-mass" in data.binning
    )


def test_bad_probabilities_and_labels_are_named() -> None:
    with pytest.raises(ValueError, match=r"probs row 1 is not a probability vector"):
        ece(np.array([[0.5, 0.5], [0.7, 0.7]]), np.array([0, 1]))
    with pytest.raises(ValueError, match=r"labels\[1\] = 2 is not an option index"):
        brier(np.array([[0.5, 0.5], [0.5, 0.5]]), np.array([0, 2]))
