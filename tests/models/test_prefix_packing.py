"""Packed shared-prefix scoring: equal to the padded method and to no reuse, and taken only where it is exact."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from medadapt.decoding import option_token_ids
from medadapt.models.batching import length_sorted_batches, packed_groups, packing_pays
from medadapt.models.hf import HFAdapter
from medadapt.models.registry import ModelSpec
from medadapt.models.testing import build_tiny_causal_lm

SHOTS = (
    "The following are multiple choice questions about medical knowledge.\n\n"
    "Question: Which organ produces insulin?\n(A) Liver\n(B) Pancreas\n(C) Spleen\nAnswer: (B)\n\n"
)
# Ragged suffixes; the empty one leaves a 1-token suffix (the prefix stops one token before the shortest prompt).
SUFFIXES = (
    "Question: Which nerve innervates the diaphragm?\n(A) Vagus\n(B) Phrenic\n(C) Radial\nAnswer: (",
    "",
    "Question: Heart?\n(A) a\n(B) b\n(C) c\nAnswer: (",
    "Question: A child has a barking cough and stridor; what is the most likely diagnosis among these?\n"
    "(A) Asthma\n(B) Croup\n(C) Pneumonia\nAnswer: (",
    "Question: Which vitamin deficiency causes scurvy?\n(A) A\n(B) C\n(C) D\nAnswer: (",
    "Q?\nAnswer: (",
    "Question: Which imaging modality uses no ionising radiation?\n(A) CT\n(B) X-ray\n(C) MRI\nAnswer: (",
    "Question: Which drug reverses an opioid overdose?\n(A) Naloxone\n(B) Atropine\n(C) Flumazenil\nAnswer: (",
    "Question: Kidney?\nAnswer: (",
)
PROMPTS = [SHOTS + s for s in SUFFIXES]
ATOL = 1e-5  # float32 sums in another order (packed row vs padded rows vs whole prompts); measured ≤ 2e-6


@pytest.fixture(scope="module")
def tiny_mistral(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_causal_lm(tmp_path_factory.mktemp("models") / "tiny-mistral", family="mistral", seed=1)


@pytest.fixture(scope="module")
def paths(tiny_llama: Path, tiny_mistral: Path) -> dict[str, Path]:
    return {"llama": tiny_llama, "mistral": tiny_mistral}


def _adapter(
    path: Path, *, sliding_window: int | None = None, attn: str | None = None, **options: Any
) -> HFAdapter:
    """The HF adapter over a float32 copy of the tiny model (config fields overridden at load)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    overrides: dict[str, Any] = {"attn_implementation": attn} if attn else {}
    if sliding_window is not None:
        overrides["sliding_window"] = sliding_window
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, **overrides)
    spec = ModelSpec(name=path.name, hf_id_or_path=str(path))
    options.setdefault("min_prefix_tokens", 8)
    return HFAdapter(spec, model=model, tokenizer=AutoTokenizer.from_pretrained(path), **options)


def _score(adapter: HFAdapter, prompts: list[str] = PROMPTS) -> Any:
    options = option_token_ids(adapter.tokenizer, ["A", "B", "C"], prompt_tail="Answer: (")
    return adapter.score_options(prompts, options)


def _assert_same(got: Any, want: Any) -> None:
    assert got.status == want.status == ["ok"] * len(want.status)
    np.testing.assert_allclose(got.logprobs, want.logprobs, atol=ATOL, rtol=0)
    np.testing.assert_allclose(got.logsumexp, want.logsumexp, atol=ATOL, rtol=0)
    np.testing.assert_array_equal(got.top_token, want.top_token)
    np.testing.assert_array_equal(got.predictions, want.predictions)


@pytest.mark.parametrize("family", ["llama", "mistral"])
@pytest.mark.parametrize("batch_size", [1, 3, 8])
def test_packed_equals_padded_equals_no_reuse(paths: dict[str, Path], family: str, batch_size: int) -> None:
    path = paths[family]
    passes = math.ceil(len(PROMPTS) / batch_size)
    results = {}
    for method, options in {
        "packed": {"prefix_packing": True},
        "padded_prefix": {"prefix_packing": False},
        "padded": {"prefix_reuse": False},
    }.items():
        adapter = _adapter(path, batch_size=batch_size, **options)
        results[method] = _score(adapter)
        assert adapter.last_passes == {method: passes}
    _assert_same(results["packed"], results["padded"])
    _assert_same(results["padded_prefix"], results["padded"])


def test_scoring_twice_is_identical_and_keeps_the_prefix(tiny_llama: Path) -> None:
    import torch

    adapter = _adapter(tiny_llama, batch_size=2, prefix_packing=True)
    first, second = _score(adapter), _score(adapter)
    np.testing.assert_array_equal(first.logprobs, second.logprobs)
    np.testing.assert_array_equal(first.logsumexp, second.logsumexp)
    # Within one call every batch reuses the same stored prefix tensors: packing must not write into them.
    ids = [adapter.encode(p) for p in PROMPTS]
    prefix = adapter._shared_prefix(ids)
    assert prefix is not None
    before = [(k.clone(), v.clone()) for k, v in prefix[1]]
    adapter.last_passes.clear()
    with torch.inference_mode():
        a, b = adapter._last_logits(ids[:4], prefix), adapter._last_logits(ids[:4], prefix)
    assert adapter.last_passes["packed"] == 2
    assert all(k.equal(k0) and v.equal(v0) for (k, v), (k0, v0) in zip(prefix[1], before, strict=True))
    assert a.equal(b)


def test_eager_attention_packs(tiny_llama: Path) -> None:
    eager = _adapter(tiny_llama, attn="eager", batch_size=4, prefix_packing=True)
    assert eager.model.config._attn_implementation == "eager"
    packed = _score(eager)
    assert eager.last_passes == {"packed": 3}
    _assert_same(packed, _score(_adapter(tiny_llama, batch_size=4, prefix_reuse=False)))


def test_a_sliding_window_that_could_cut_in_scores_whole_prompts(tiny_mistral: Path) -> None:
    import torch

    probe = _adapter(tiny_mistral)
    ids = [probe.encode(p) for p in PROMPTS]
    longest = max(len(x) for x in ids)
    window = longest - 10  # longer than the shared prefix, shorter than the longest prompt
    assert probe._shared_prefix(ids)[0] < window  # type: ignore[index]
    adapter = _adapter(tiny_mistral, sliding_window=window, batch_size=4)
    got = _score(adapter)
    assert adapter.last_passes == {"padded": 3}
    _assert_same(got, _score(_adapter(tiny_mistral, sliding_window=window, batch_size=4, prefix_reuse=False)))
    # and whole prompts, one at a time, through the plain model agree: the window was applied.
    for i, x in enumerate(ids):
        with torch.inference_mode():
            logits = adapter.model(input_ids=torch.tensor([x])).logits[0, -1].double()
        assert got.logsumexp[i] == pytest.approx(float(torch.logsumexp(logits, 0)), abs=ATOL)
    # A window every prompt fits in cannot cut in: packing goes ahead and agrees.
    wide = _adapter(tiny_mistral, sliding_window=longest, batch_size=4, prefix_packing=True)
    _assert_same(_score(wide), _score(_adapter(tiny_mistral, sliding_window=longest, prefix_reuse=False)))
    assert wide.last_passes == {"packed": 3}


def test_packs_split_at_the_mask_budget(tiny_llama: Path) -> None:
    reference = _score(_adapter(tiny_llama, batch_size=8, prefix_reuse=False))
    adapter = _adapter(tiny_llama, batch_size=8, prefix_packing=True)
    ids = [adapter.encode(p) for p in PROMPTS]
    prefix_len = adapter._shared_prefix(ids)[0]  # type: ignore[index]
    longest = max(len(x) for x in ids) - prefix_len
    adapter.max_packed_mask_elements = 2 * longest * (prefix_len + 2 * longest)  # about two suffixes per pack
    _assert_same(_score(adapter), reference)
    assert adapter.last_passes["packed"] > 2 and "padded_prefix" not in adapter.last_passes
    adapter.max_packed_mask_elements = 1  # no suffix fits alone: each is scored padded after the prefix
    _assert_same(_score(adapter), reference)
    assert adapter.last_passes == {"padded_prefix": len(PROMPTS)}


def test_packed_groups() -> None:
    assert packed_groups([], 10, 100) == []
    assert packed_groups([3, 2, 1], 0, 100) == [[0, 1, 2]]
    # (3+2) * (10+5) = 75 fits; adding 1 gives 6 * 16 = 96 > 90
    assert packed_groups([3, 2, 1], 10, 90) == [[0, 1], [2]]
    assert packed_groups([20, 1], 10, 50) == [[0], [1]]  # a row over the budget alone stays alone


def test_auto_packs_exactly_the_batches_where_the_estimate_says_it_pays(tiny_llama: Path) -> None:
    adapter = _adapter(tiny_llama, batch_size=3)  # prefix_packing="auto", the default
    ids = [adapter.encode(p) for p in PROMPTS]
    prefix_len = adapter._shared_prefix(ids)[0]  # type: ignore[index]
    hidden = adapter.model.config.hidden_size
    suffix = [len(x) - prefix_len for x in ids]
    expected: dict[str, int] = {}
    for batch in length_sorted_batches(suffix, 3):
        method = "packed" if packing_pays([suffix[i] for i in batch], prefix_len, hidden) else "padded_prefix"
        expected[method] = expected.get(method, 0) + 1
    got = _score(adapter)
    assert adapter.last_passes == expected
    _assert_same(got, _score(_adapter(tiny_llama, batch_size=3, prefix_reuse=False)))


def test_packing_estimate() -> None:
    # near-equal lengths: padding is small, packed attention over 8 suffixes costs more
    assert not packing_pays([61, 60, 60, 59, 59, 58, 58, 58], 167, 576)
    # ragged: padding to 127 wastes more than packed attention costs
    assert packing_pays([127, 40, 38, 37, 36, 36, 35, 35], 167, 576)
    # a single row: packing and padding are the same work, padded is kept
    assert not packing_pays([50], 100, 576)


def test_prefix_packing_value_is_checked(tiny_llama: Path) -> None:
    with pytest.raises(ValueError, match=r"prefix_packing.*'sometimes'"):
        _adapter(tiny_llama, prefix_packing="sometimes")
