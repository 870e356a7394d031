"""Hypothesis property tests: every kernel against the float64 reference within 2x a plain fp32 version's error."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import medadapt.decoding as dec
from medadapt.decoding.inputs import bf16_bits_to_float32

Run = Callable[..., dec.ConstrainedResult]

SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _to_bf16_bits(x: np.ndarray) -> np.ndarray:
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    out = rounded.astype(np.uint16)
    out[np.isneginf(x)] = 0xFF80
    return out


@st.composite
def cases(draw: st.DrawFn) -> dict[str, object]:
    """Random shapes, spreads, masked entries, ragged/duplicate ids, dtype and row stride."""
    batch = draw(st.integers(1, 6))
    vocab = draw(st.one_of(st.integers(1, 40), st.integers(41, 9000), st.sampled_from([4096, 8193, 32001])))
    seed = draw(st.integers(0, 2**32 - 1))
    spread = draw(st.sampled_from(["normal0.2", "normal5", "gumbel", "huge", "constant"]))
    rng = np.random.default_rng(seed)
    if spread == "normal0.2":
        x = rng.standard_normal((batch, vocab)) * 0.2
    elif spread == "normal5":
        x = rng.standard_normal((batch, vocab)) * 5
    elif spread == "gumbel":
        x = rng.gumbel(size=(batch, vocab)) * 3
    elif spread == "huge":
        x = rng.standard_normal((batch, vocab)) * 1e4 + 1e6
    else:
        x = np.full((batch, vocab), 2.5)
    neg_inf_fraction = draw(st.sampled_from([0.0, 0.0, 0.3, 0.95]))
    mask = rng.random((batch, vocab)) < neg_inf_fraction
    mask[:, rng.integers(0, vocab, batch)] = False  # at least one finite entry per row
    mask[np.arange(batch), rng.integers(0, vocab, batch)] = False
    x = np.where(mask, -np.inf, x)
    k = draw(st.integers(1, 9))
    ids = rng.integers(0, vocab, (batch, k))
    ids[rng.random((batch, k)) < 0.3] = -1
    ids[:, 0] = rng.integers(0, vocab, batch)  # never an empty row
    if k > 1 and draw(st.booleans()):
        ids[:, -1] = ids[:, 0]  # duplicates
    return {
        "x": x,
        "ids": ids,
        "dtype": draw(st.sampled_from(["float32", "float16", "bfloat16"])),
        "stride": draw(st.sampled_from([1, 1, 3])),
    }


def _materialise(case: dict[str, object]) -> tuple[np.ndarray, np.ndarray, str | None]:
    """(logits as passed, the same values widened to float32, dtype argument)."""
    x = np.asarray(case["x"], np.float64)
    dtype, stride = case["dtype"], int(case["stride"])  # type: ignore[call-overload]
    if dtype == "float32":
        stored, widened, arg = x.astype(np.float32), x.astype(np.float32), None
    elif dtype == "float16":
        stored = np.clip(x, -60000, 60000).astype(np.float16)
        stored[np.isneginf(x)] = -np.inf
        widened, arg = stored.astype(np.float32), None
    else:
        stored = _to_bf16_bits(x.astype(np.float32))
        widened, arg = bf16_bits_to_float32(stored), "bfloat16"
    if stride > 1:  # rows strided in memory: view every stride-th row of a taller buffer
        tall = np.repeat(stored, stride, axis=0)
        stored = tall[::stride]
    return stored, widened, arg


@SETTINGS
@given(case=cases())
def test_matches_float64_reference(run: Run, case: dict[str, object]) -> None:
    stored, widened, arg = _materialise(case)
    ids = np.asarray(case["ids"])
    got = run(stored, ids, dtype=arg)
    ref = dec.reference_constrained_logprobs(widened.astype(np.float64), ids, output_dtype=np.float64)
    plain = dec.reference_constrained_logprobs(
        widened, ids, compute_dtype=np.float32, output_dtype=np.float64
    )
    finite = np.isfinite(ref.logprobs)
    np.testing.assert_array_equal(np.isfinite(got.logprobs), finite)
    scale_lp = np.maximum(1.0, np.abs(ref.logprobs[finite]))
    err = np.max(np.abs(got.logprobs[finite] - ref.logprobs[finite]) / scale_lp, initial=0.0)
    budget = np.max(np.abs(plain.logprobs[finite] - ref.logprobs[finite]) / scale_lp, initial=0.0)
    scale_lse = np.maximum(1.0, np.abs(ref.logsumexp))
    err = max(err, np.max(np.abs(got.logsumexp - ref.logsumexp) / scale_lse))
    budget = max(budget, np.max(np.abs(plain.logsumexp - ref.logsumexp) / scale_lse))
    assert err <= 2 * budget + 1e-6, (err, budget)
    np.testing.assert_array_equal(got.top_token, ref.top_token)
    for b in range(ids.shape[0]):
        if got.argmax[b] != ref.argmax[b]:  # only a near-tie may flip
            assert ref.logprobs[b, ref.argmax[b]] - ref.logprobs[b, got.argmax[b]] <= 4 * budget + 1e-6
    assert got.valid.all()
