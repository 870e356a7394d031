"""Unsigned allowed ids (issue 13): huge uint64 ids are rejected as the positive numbers given, never wrapped
to -1 padding or to negative ids; in-range unsigned ids give the reference's result on every backend."""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import medadapt.decoding as dec

Run = Callable[..., dec.ConstrainedResult]

SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
VOCAB = 10


@pytest.mark.parametrize("huge", [2**64 - 1, 2**64 - 2, 2**63, 2**63 + 5])
def test_huge_uint64_id_is_rejected_as_given(run: Run, huge: int) -> None:
    ids = np.array([[1, huge]], dtype=np.uint64)
    message = f"id {huge} at [0, 1] is out of range for vocabulary size {VOCAB}"
    with pytest.raises(ValueError, match=re.escape(message)):
        run(np.zeros((1, VOCAB), np.float32), ids)


def test_all_ones_uint64_is_not_padding(run: Run) -> None:
    """2**64 - 1 wrapped to -1 used to pad the row: the only real id was kept and no error was raised."""
    logits = np.arange(VOCAB, dtype=np.float32)[None, :]
    with pytest.raises(ValueError, match=re.escape(f"id {2**64 - 1} at [0, 0]")):
        run(logits, np.array([2**64 - 1, 3], dtype=np.uint64))


@st.composite
def unsigned_cases(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, int | None]:
    """Logits, uint64 ids, and the first out-of-range id in row-major order (None when every id is valid)."""
    batch, k = draw(st.integers(1, 4)), draw(st.integers(1, 5))
    valid = st.integers(0, VOCAB - 1)
    huge = st.one_of(st.integers(VOCAB, 2**63 - 1), st.integers(2**63, 2**64 - 1))
    flat = draw(st.lists(st.one_of(valid, valid, huge), min_size=batch * k, max_size=batch * k))
    seed = draw(st.integers(0, 2**32 - 1))
    logits = np.random.default_rng(seed).standard_normal((batch, VOCAB)).astype(np.float32)
    first_bad = next((v for v in flat if v >= VOCAB), None)
    return logits, np.array(flat, dtype=np.uint64).reshape(batch, k), first_bad


@SETTINGS
@given(unsigned_cases())
def test_uint64_ids_match_the_reference_or_fail_naming_the_id(
    run: Run, case: tuple[np.ndarray, np.ndarray, int | None]
) -> None:
    logits, ids, first_bad = case
    if first_bad is not None:
        with pytest.raises(ValueError, match=rf"allowed_ids: id {first_bad} at \[\d+, \d+\] is out of range"):
            run(logits, ids)
        return
    got = run(logits, ids)
    want = dec.reference_constrained_logprobs(logits, ids.astype(np.int64))
    np.testing.assert_allclose(got.logprobs, want.logprobs, rtol=2e-6, atol=2e-6)
    np.testing.assert_array_equal(got.argmax, want.argmax)
