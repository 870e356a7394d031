"""One prediction rule from option log-probs (ScoreResult.predictions and the study app share `best_option`)."""

from __future__ import annotations

import numpy as np

from medadapt.models.adapter_io import ScoreResult, best_option


def test_a_nan_log_prob_never_wins() -> None:
    assert best_option([np.nan, -2.0, -1.0]) == 2  # np.argmax alone would pick the NaN
    assert best_option([-1.0, -1.0]) == 0  # first on ties
    assert best_option([np.nan, -np.inf]) is None


def test_predictions_use_the_same_rule() -> None:
    logprobs = np.array([[np.nan, -2.0, -1.0], [-np.inf, -np.inf, -np.inf], [np.nan] * 3], dtype=np.float32)
    result = ScoreResult(logprobs, np.zeros(3), np.zeros(3, dtype=np.int64), ["ok", "ok", "too_long"])
    assert result.predictions.tolist() == [2, -1, -1]
