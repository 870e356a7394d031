"""The value every constrained log-prob backend returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class ConstrainedResult:
    """Full-vocabulary log-probs of the allowed ids, so callers can renormalise or compare across calls.

    Attributes:
        logprobs: float32 [B, K]; ``logits[b, ids[b, k]] - logsumexp(logits[b])``; ``-inf`` where the id is -1 padding.
        logsumexp: float32 [B]; the row's log-sum-exp over the whole vocabulary.
        argmax: int64 [B]; index into K of the most probable allowed id (first on ties).
        top_token: int64 [B]; the unconstrained argmax over the vocabulary (first on ties).
        valid: bool [B]; False for rows with NaN/+inf or only -inf logits (only with ``invalid="mark"``).
    """

    logprobs: np.ndarray
    logsumexp: np.ndarray
    argmax: np.ndarray
    top_token: np.ndarray
    valid: np.ndarray = field(default_factory=lambda: np.ones(0, dtype=bool))

    @property
    def batch(self) -> int:
        """Number of rows."""
        return int(self.logprobs.shape[0])
