"""Calibration of option probabilities: expected calibration error (binning stated), Brier score, reliability."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

Binning = Literal["equal_width", "equal_mass"]
_TOLERANCE = 1e-4


def _probabilities(probs: ArrayLike, labels: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(labels)
    if p.ndim != 2:
        raise ValueError(f"probs must be [n_items, n_options] option probabilities, got shape {p.shape}")
    if y.shape != (p.shape[0],):
        raise ValueError(
            f"labels must hold one gold option index per item ({p.shape[0]}), got shape {y.shape}"
        )
    if y.dtype.kind not in "iu":
        raise ValueError(f"labels must be integer option indices (0 = A), got dtype {y.dtype}")
    if ((y < 0) | (y >= p.shape[1])).any():
        bad = int(np.flatnonzero((y < 0) | (y >= p.shape[1]))[0])
        raise ValueError(f"labels[{bad}] = {int(y[bad])} is not an option index in [0, {p.shape[1]})")
    bad_rows = np.flatnonzero(
        ~np.isfinite(p).all(axis=1) | (p < 0).any(axis=1) | (np.abs(p.sum(axis=1) - 1) > _TOLERANCE)
    )
    if bad_rows.size:
        row = int(bad_rows[0])
        raise ValueError(
            f"probs row {row} is not a probability vector (sums to {p[row].sum()!r}); renormalise first"
        )
    return p, y.astype(np.int64)


@dataclass(frozen=True)
class ReliabilityData:
    """Per-bin top-label confidence and accuracy; `binning` says how the bins were made."""

    bin_edges: NDArray[np.float64]
    counts: NDArray[np.int64]
    mean_confidence: NDArray[np.float64]
    accuracy: NDArray[np.float64]
    binning: str

    @property
    def ece(self) -> float:
        """Count-weighted mean |accuracy - confidence| over non-empty bins."""
        filled = self.counts > 0
        weights = self.counts[filled] / self.counts.sum()
        return float(np.sum(weights * np.abs(self.accuracy[filled] - self.mean_confidence[filled])))

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON reports (NaN marks empty bins)."""
        return {
            "bin_edges": self.bin_edges.tolist(),
            "counts": self.counts.tolist(),
            "mean_confidence": self.mean_confidence.tolist(),
            "accuracy": self.accuracy.tolist(),
            "binning": self.binning,
            "ece": self.ece,
        }


def reliability(
    probs: ArrayLike, labels: ArrayLike, n_bins: int = 15, binning: Binning = "equal_width"
) -> ReliabilityData:
    """Bin items by top-label confidence (max option probability) and compare with their accuracy.

    equal_width: bins (0, 1/n_bins], ..., ((n_bins-1)/n_bins, 1] (confidence 0 goes to the first);
    equal_mass: edges at the n_bins-quantiles of the confidences, so bins hold near-equal counts (ties stay together).
    """
    p, y = _probabilities(probs, labels)
    if int(n_bins) != n_bins or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    confidence = p.max(axis=1)
    correct = (p.argmax(axis=1) == y).astype(np.float64)
    if binning == "equal_width":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
        index = np.clip(np.ceil(confidence * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
        described = f"{n_bins} equal-width bins of top-label confidence over [0, 1], right-closed"
    elif binning == "equal_mass":
        # Edges at confidence quantiles; equal confidences always share a bin (so ties can leave bins uneven).
        edges = np.quantile(confidence, np.linspace(0.0, 1.0, n_bins + 1))
        index = np.clip(np.searchsorted(edges[1:-1], confidence, side="left"), 0, n_bins - 1)
        described = f"{n_bins} equal-mass bins of top-label confidence (edges at its quantiles, right-closed)"
    else:
        raise ValueError(f"binning must be 'equal_width' or 'equal_mass', got {binning!r}")
    counts = np.bincount(index, minlength=n_bins).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(index, weights=confidence, minlength=n_bins) / counts
        accuracy = np.bincount(index, weights=correct, minlength=n_bins) / counts
    return ReliabilityData(edges, counts, mean_confidence, accuracy, described)


def ece(probs: ArrayLike, labels: ArrayLike, n_bins: int = 15, binning: Binning = "equal_width") -> float:
    """Expected calibration error of the top-label confidence (L1, count-weighted; default 15 equal-width bins)."""
    return reliability(probs, labels, n_bins, binning).ece


def brier(probs: ArrayLike, labels: ArrayLike) -> float:
    """Multi-class Brier score: mean over items of Σ_k (p_k - 1[k = gold])², in [0, 2]; lower is better."""
    p, y = _probabilities(probs, labels)
    onehot = np.zeros_like(p)
    onehot[np.arange(p.shape[0]), y] = 1.0
    return float(np.mean(np.sum((p - onehot) ** 2, axis=1)))
