"""Probabilities over the K options from full-vocabulary log-probs (the study's "renormalise among options")."""

from __future__ import annotations

import numpy as np


def renormalize(logprobs: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """softmax over the last axis of ``logprobs`` [.., K], ignoring -inf entries and those where ``mask`` is False.

    A row with nothing left gives NaN probabilities (no option is defined), never a silent uniform guess.
    """
    lp = np.asarray(logprobs, dtype=np.float64)
    if mask is not None:
        keep = np.asarray(mask, dtype=bool)
        if keep.shape != lp.shape:
            raise ValueError(f"mask: shape {keep.shape} differs from logprobs shape {lp.shape}")
        lp = np.where(keep, lp, -np.inf)
    top = np.max(lp, axis=-1, keepdims=True) if lp.shape[-1] else np.full((*lp.shape[:-1], 1), -np.inf)
    with np.errstate(invalid="ignore"):
        weights = np.exp(lp - top)
        return weights / weights.sum(axis=-1, keepdims=True)
