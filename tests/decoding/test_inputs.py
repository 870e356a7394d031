"""Bad input raises a Python exception naming the argument; strided rows and DLPack tensors are read in place."""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pytest

import medadapt.decoding as dec

Run = Callable[..., dec.ConstrainedResult]


@pytest.mark.parametrize(
    ("ids", "message"),
    [
        (np.array([[1, 10]]), "id 10 at [0, 1] is out of range for vocabulary size 10"),
        (np.array([[1, -2]]), "id -2 at [0, 1] is out of range"),
        (np.array([[-1, -1]]), "row 0 has no allowed id"),
        (np.zeros((1, 0), np.int64), "K is 0"),
        (np.array([[1.0, 2.0]]), "expected an integer array"),
        (np.array([[1, 2], [3, 4]]), "has 2 rows but logits has 1"),
        (np.zeros((1, 2, 2), np.int64), "expected an int array [B, K]"),
    ],
)
def test_bad_allowed_ids(run: Run, ids: np.ndarray, message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=re.escape(message)):
        run(np.zeros((1, 10), np.float32), ids)


@pytest.mark.parametrize(
    ("logits", "kwargs", "message"),
    [
        (np.zeros((2, 10), np.float64), {}, "float64"),
        (np.zeros((2, 10), np.int32), {}, "int32"),
        (np.zeros((2, 10), np.uint16), {}, "dtype='bfloat16'"),
        (np.zeros((2, 10), np.float32), {"dtype": "bfloat16"}, "uint16 view"),
        (np.zeros(10, np.float32), {}, "2-D"),
        (np.zeros((2, 10), np.float32), {"invalid": "ignore"}, "invalid must be"),
    ],
)
def test_bad_logits(logits: np.ndarray, kwargs: dict[str, object], message: str) -> None:
    for backend in ("auto", "numpy"):
        if backend == "numpy" and logits.dtype == np.float64:
            continue  # the float64 reference path accepts float64
        with pytest.raises((ValueError, TypeError), match=re.escape(message)):
            dec.constrained_logprobs(
                logits,
                np.array([[1]] * max(1, logits.shape[0] if logits.ndim == 2 else 1)),
                backend=backend,
                **kwargs,
            )


@pytest.mark.skipif("cpu" not in dec.backends(), reason="no compiled CPU kernel")
def test_non_contiguous_vocab_axis_is_rejected() -> None:
    logits = np.zeros((2, 20), np.float32)[:, ::2]
    with pytest.raises(ValueError, match="vocabulary \\(last\\) axis must be contiguous"):
        dec.constrained_logprobs(logits, np.array([[1], [2]]))


def test_unknown_backend_and_wrong_device() -> None:
    with pytest.raises(ValueError, match="backend must be one of"):
        dec.constrained_logprobs(np.zeros((1, 4), np.float32), np.array([[1]]), backend="tpu")
    if "cuda" in dec.backends():
        with pytest.raises(ValueError, match="logits live on cpu"):
            dec.constrained_logprobs(np.zeros((1, 4), np.float32), np.array([[1]]), backend="cuda")


def test_strided_rows_numpy(run: Run) -> None:
    rng = np.random.default_rng(7)
    cube = rng.standard_normal((3, 4, 5003)).astype(np.float32)
    logits = cube[:, -1, :]  # row stride 4 * V
    assert not logits.flags.c_contiguous
    ids = np.array([[0, 1], [5002, 7], [8, 8]])
    got = run(logits, ids)
    want = dec.reference_constrained_logprobs(np.ascontiguousarray(logits), ids)
    np.testing.assert_allclose(got.logprobs, want.logprobs, rtol=2e-6, atol=2e-6)
    np.testing.assert_array_equal(got.top_token, want.top_token)


def test_ragged_padding_positions(run: Run) -> None:
    logits = np.random.default_rng(8).standard_normal((3, 64)).astype(np.float32)
    ids = np.array([[5, -1, -1, -1], [1, 2, 3, 4], [-1, 9, -1, 10]])
    got = run(logits, ids)
    assert np.isneginf(got.logprobs[ids < 0]).all()
    assert np.isfinite(got.logprobs[ids >= 0]).all()
    assert got.argmax[0] == 0 and got.argmax[2] in (1, 3)


def test_ml_dtypes_bfloat16_when_installed(run: Run) -> None:
    ml_dtypes = pytest.importorskip("ml_dtypes")
    x = np.random.default_rng(9).standard_normal((2, 300)).astype(ml_dtypes.bfloat16)
    ids = np.array([[1, 2], [3, 4]])
    got = run(x.view(np.uint16), ids, dtype="bfloat16")
    np.testing.assert_array_equal(dec.constrained_logprobs(x, ids).logprobs, got.logprobs)


@pytest.mark.skipif("cpu" not in dec.backends(), reason="no compiled CPU kernel")
class TestTorchDLPack:
    """torch tensors go through DLPack without a copy; bf16 is read as bf16."""

    def test_float32_bfloat16_float16_and_strides(self) -> None:
        torch = pytest.importorskip("torch")
        gen = torch.Generator().manual_seed(0)
        cube = torch.randn(3, 5, 7001, generator=gen) * 4
        ids = np.array([[1, 2, 3], [7000, 0, -1], [4, 4, 4]])
        for dtype in (torch.float32, torch.bfloat16, torch.float16):
            tensor = cube.to(dtype)[:, -1, :]
            assert not tensor.is_contiguous()
            got = dec.constrained_logprobs(tensor, ids)
            want = dec.reference_constrained_logprobs(tensor.float().contiguous().numpy(), ids)
            np.testing.assert_allclose(got.logprobs, want.logprobs, rtol=3e-6, atol=3e-6)
            np.testing.assert_array_equal(got.top_token, want.top_token)

    def test_torch_ids_and_errors(self) -> None:
        torch = pytest.importorskip("torch")
        logits = torch.randn(2, 100)
        got = dec.constrained_logprobs(logits, torch.tensor([[1, 2], [3, -1]]))
        assert got.logprobs.shape == (2, 2)
        with pytest.raises(TypeError, match="DLPack type code"):
            dec.constrained_logprobs(logits.double(), np.array([[1], [2]]))
        with pytest.raises(ValueError, match="must be contiguous"):
            dec.constrained_logprobs(logits[:, ::2], np.array([[1], [2]]))
        with pytest.raises(ValueError, match="out of range"):
            dec.constrained_logprobs(logits, np.array([[1], [100]]))
        # the tensor is still usable after a failed call (the capsule was not consumed twice)
        assert float(logits.sum()) == float(logits.sum())


def test_backends_lists_what_was_built() -> None:
    names = dec.backends()
    assert names[-1] == "numpy" and set(names) <= {"cpu", "cuda", "numpy"}
