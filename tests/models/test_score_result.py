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


def test_unscored_marks_prompts_longer_than_the_limit_and_fill_writes_only_scored_rows() -> None:
    result = ScoreResult.unscored([3, 5, 4], n_options=2, longest=4)
    assert result.status == ["ok", "too_long", "ok"] and result.n_tokens == [3, 5, 4]
    assert result.scorable() == [0, 2]
    assert np.isnan(result.logprobs).all() and np.isnan(result.logsumexp).all() and (result.top_token == -1).all()
    result.fill([0, 2], np.array([[-1.0, -2.0], [-3.0, -0.5]]), np.array([0.1, 0.2]), np.array([7, 9]))
    assert result.logprobs.dtype == np.float32 and result.top_token.tolist() == [7, -1, 9]
    assert np.isnan(result.logprobs[1]).all() and np.isnan(result.logsumexp[1])
    assert result.predictions.tolist() == [0, -1, 1]
