"""constrained_logprobs on every backend against the float64 reference: values, edge cases, strides, errors."""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pytest

import medadapt.decoding as dec
from medadapt.decoding.inputs import bf16_bits_to_float32

Run = Callable[..., dec.ConstrainedResult]


def to_bf16_bits(x: np.ndarray) -> np.ndarray:
    """Round float32 to bfloat16 bits (nearest even), as uint16."""
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    rounded = bits + 0x7FFF + ((bits >> 16) & 1)
    out = (rounded >> 16).astype(np.uint16)
    return np.where(np.isnan(x), np.uint16(0x7FC0), out)


def plain_error_budget(logits64: np.ndarray, ids: np.ndarray, ref: dec.ConstrainedResult) -> float:
    """Max error of a plain fp32 numpy version against float64: the yardstick of the 2x rule."""
    plain = dec.reference_constrained_logprobs(
        logits64.astype(np.float32), ids, compute_dtype=np.float32, output_dtype=np.float64
    )
    return max_rel_error(plain, ref)


def max_rel_error(got: dec.ConstrainedResult, ref: dec.ConstrainedResult) -> float:
    """max |Δ| / max(1, |ref|) over the finite log-probs and the log-sum-exp."""
    finite = np.isfinite(ref.logprobs)
    assert np.array_equal(np.isfinite(got.logprobs), finite)
    d1 = np.abs(got.logprobs[finite].astype(np.float64) - ref.logprobs[finite]) / np.maximum(
        1.0, np.abs(ref.logprobs[finite])
    )
    d2 = np.abs(got.logsumexp.astype(np.float64) - ref.logsumexp) / np.maximum(1.0, np.abs(ref.logsumexp))
    return float(max(d1.max(initial=0.0), d2.max(initial=0.0)))


def check_against_reference(got: dec.ConstrainedResult, widened: np.ndarray, ids: np.ndarray) -> None:
    """Values within 2x the plain fp32 error (+1e-6), argmax and top token equal to the reference's."""
    ref = dec.reference_constrained_logprobs(widened.astype(np.float64), ids, output_dtype=np.float64)
    budget = plain_error_budget(widened, ids, ref)
    err = max_rel_error(got, ref)
    assert err <= 2 * budget + 1e-6, (err, budget)
    assert got.logprobs.dtype == np.float32 and got.logsumexp.dtype == np.float32
    assert got.argmax.dtype == np.int64 and got.top_token.dtype == np.int64
    np.testing.assert_array_equal(got.top_token, ref.top_token)
    # argmax may differ only between allowed ids whose log-probs tie within the error
    for b in range(len(ids)):
        if got.argmax[b] != ref.argmax[b]:
            gap = ref.logprobs[b, ref.argmax[b]] - ref.logprobs[b, got.argmax[b]]
            assert gap <= 4 * budget + 1e-6


def test_basic_values(run: Run) -> None:
    rng = np.random.default_rng(0)
    logits = (rng.standard_normal((4, 1000)) * 3).astype(np.float32)
    ids = np.array([[1, 2, 3], [10, 20, -1], [999, 0, 5], [7, -1, -1]])
    got = run(logits, ids)
    check_against_reference(got, logits, ids)
    assert got.logprobs[1, 2] == -np.inf and got.logprobs[3, 1] == -np.inf
    assert got.valid.all()


@pytest.mark.parametrize("vocab", [1, 2, 7, 15, 16, 17, 111, 4095, 4096, 4097, 32001, 100_003])
def test_odd_vocab_sizes(run: Run, vocab: int) -> None:
    rng = np.random.default_rng(vocab)
    logits = (rng.standard_normal((3, vocab)) * 5).astype(np.float32)
    ids = rng.integers(0, vocab, size=(3, 4))
    check_against_reference(run(logits, ids), logits, ids)


def test_single_row_large_vocab(run: Run) -> None:
    rng = np.random.default_rng(1)
    logits = rng.gumbel(size=(1, 152_064)).astype(np.float32) * 4
    ids = np.array([[5, 151_000, 77, 77]])
    got = run(logits, ids)
    check_against_reference(got, logits, ids)
    assert got.logprobs[0, 2] == got.logprobs[0, 3]  # duplicate ids give identical values


def test_top_token_is_first_of_ties(run: Run) -> None:
    logits = np.zeros((2, 50_000), np.float32)
    logits[0, [9000, 30_000, 49_999]] = 3.0
    logits[1, [0, 1]] = 1.0
    got = run(logits, np.array([[30_000, 9000], [1, 0]]))
    np.testing.assert_array_equal(got.top_token, [9000, 0])
    np.testing.assert_array_equal(got.argmax, [0, 0])  # equal log-probs: the first allowed id wins


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_inputs(run: Run, dtype: str) -> None:
    rng = np.random.default_rng(2)
    wide = (rng.standard_normal((5, 20_001)) * 4).astype(np.float32)
    ids = rng.integers(0, 20_001, (5, 6))
    if dtype == "float16":
        logits = wide.astype(np.float16)
        widened = logits.astype(np.float32)
        got = run(logits, ids)
    else:
        bits = to_bf16_bits(wide)
        widened = bf16_bits_to_float32(bits)
        got = run(bits, ids, dtype="bfloat16")
    check_against_reference(got, widened, ids)


def test_float16_subnormals_and_infinities(run: Run) -> None:
    values = np.array([6e-8, -6e-8, 1e-5, 65504.0, -65504.0, -np.inf, 0.0, 3.5], np.float16)
    logits = np.tile(values, (2, 1))
    ids = np.array([[0, 1, 2, 3], [4, 5, 6, 7]])
    check_against_reference(run(logits, ids), logits.astype(np.float32), ids)


def test_neg_inf_entries_contribute_nothing(run: Run) -> None:
    rng = np.random.default_rng(3)
    logits = rng.standard_normal((3, 9000)).astype(np.float32)
    logits[:, ::3] = -np.inf
    logits[1, :8000] = -np.inf  # long masked stretch, including whole blocks
    ids = np.array([[0, 1, 2], [8001, 3, 8002], [4, 5, 6]])
    got = run(logits, ids)
    check_against_reference(got, logits, ids)
    assert got.logprobs[0, 0] == -np.inf and got.logprobs[2, 2] == -np.inf


def test_huge_values(run: Run) -> None:
    logits = np.array([[1e30, -1e30, 0.0, 3e38], [-3e38, -3e38, -3e38, -3e38]], np.float32)
    ids = np.array([[0, 1, 3], [0, 2, 3]])
    got = run(logits, ids)
    check_against_reference(got, logits, ids)
    assert got.argmax[0] == 2


@pytest.mark.parametrize(
    ("row", "reason"), [("nan", "contains NaN"), ("ninf", "is all -inf"), ("pinf", "contains +inf")]
)
def test_invalid_rows_raise_or_mark(run: Run, row: str, reason: str) -> None:
    logits = np.random.default_rng(4).standard_normal((3, 5000)).astype(np.float32)
    if row == "nan":
        logits[1, 4321] = np.nan
    elif row == "ninf":
        logits[1] = -np.inf
    else:
        logits[1, 17] = np.inf
    ids = np.array([[1, 2], [3, 4], [5, 6]])
    with pytest.raises(dec.InvalidRowError, match=re.escape(f"row 1 {reason}")):
        run(logits, ids)
    got = run(logits, ids, invalid="mark")
    np.testing.assert_array_equal(got.valid, [True, False, True])
    assert np.all(got.logprobs[1] == -np.inf) and np.isnan(got.logsumexp[1])
    assert got.argmax[1] == -1 and got.top_token[1] == -1
    check_subset = dec.reference_constrained_logprobs(logits[[0, 2]], ids[[0, 2]])
    np.testing.assert_allclose(got.logprobs[[0, 2]], check_subset.logprobs, rtol=1e-5, atol=1e-5)


def test_nan_in_allowed_and_masked_positions_still_reported(run: Run) -> None:
    logits = np.zeros((1, 100), np.float32)
    logits[0, 99] = np.nan  # in the scalar tail of the vector loop
    with pytest.raises(dec.InvalidRowError):
        run(logits, np.array([[1]]))


def test_shared_ids_broadcast_to_rows(run: Run) -> None:
    logits = np.random.default_rng(5).standard_normal((4, 300)).astype(np.float32)
    got = run(logits, np.array([3, 1, 4]))
    check_against_reference(got, logits, np.tile([3, 1, 4], (4, 1)))


def test_empty_batch(run: Run, backend: tuple[str, str | None]) -> None:
    got = run(np.zeros((0, 10), np.float32), np.zeros((0, 2), np.int64))
    assert got.logprobs.shape == (0, 2) and got.argmax.shape == (0,)


def test_masked_vocabulary_contributes_exactly_zero(run: Run) -> None:
    logits = np.full((2, 40_000), -np.inf, np.float32)
    logits[0, 12_345] = 0.0
    logits[1, [7, 39_999]] = 1.5
    got = run(logits, np.array([[12_345, 0], [7, 39_999]]))
    assert got.logprobs[0, 0] == 0.0 and got.logsumexp[0] == 0.0
    assert got.logprobs[0, 1] == -np.inf
    np.testing.assert_allclose(got.logprobs[1], [-np.log(2.0)] * 2, rtol=1e-7)
    np.testing.assert_array_equal(got.top_token, [12_345, 7])
