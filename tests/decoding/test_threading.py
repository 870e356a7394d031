"""The CPU kernel's thread pool: same results for any thread count, from several Python threads, after fork()."""

from __future__ import annotations

import os
import sys
import threading
import warnings

import numpy as np
import pytest

import medadapt.decoding as dec

pytestmark = pytest.mark.skipif("cpu" not in dec.backends(), reason="no compiled CPU kernel")


@pytest.fixture(scope="module")
def case() -> tuple[np.ndarray, np.ndarray, dec.ConstrainedResult]:
    rng = np.random.default_rng(11)
    logits = (rng.standard_normal((5, 70_001)) * 3).astype(np.float32)
    ids = rng.integers(0, 70_001, (5, 4))
    return logits, ids, dec.constrained_logprobs(logits, ids, threads=1)


@pytest.mark.parametrize("threads", [1, 2, 3, 8])
@pytest.mark.parametrize("rows", [1, 2, 5])
def test_thread_counts_agree(
    case: tuple[np.ndarray, np.ndarray, dec.ConstrainedResult], threads: int, rows: int
) -> None:
    logits, ids, want = case
    got = dec.constrained_logprobs(logits[:rows], ids[:rows], threads=threads)
    np.testing.assert_allclose(got.logprobs, want.logprobs[:rows], rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(got.top_token, want.top_token[:rows])


def test_concurrent_python_threads(case: tuple[np.ndarray, np.ndarray, dec.ConstrainedResult]) -> None:
    logits, ids, want = case
    ok: list[bool] = []

    def score() -> None:
        for _ in range(20):
            got = dec.constrained_logprobs(logits, ids, threads=2)
            ok.append(bool(np.allclose(got.logprobs, want.logprobs, rtol=1e-6, atol=1e-6)))

    workers = [threading.Thread(target=score) for _ in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)
    assert len(ok) == 60 and all(ok)


@pytest.mark.skipif(sys.platform != "linux", reason="fork semantics tested on Linux")
def test_kernel_runs_in_a_forked_child(case: tuple[np.ndarray, np.ndarray, dec.ConstrainedResult]) -> None:
    logits, ids, want = case
    dec.constrained_logprobs(logits, ids, threads=2)  # the parent's pool exists before the fork
    read, write = os.pipe()
    with (
        warnings.catch_warnings()
    ):  # Python >= 3.12 warns about fork() in a threaded process: that is the point
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        got = dec.constrained_logprobs(logits, ids, threads=2)
        os.write(write, b"1" if np.allclose(got.logprobs, want.logprobs, rtol=1e-6, atol=1e-6) else b"0")
        os._exit(0)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    assert os.read(read, 1) == b"1" and status == 0


def test_unsupported_isa_is_refused() -> None:
    best = dec._native._core.cpu_isa()
    if best == "avx512":
        pytest.skip("every build runs here")
    with pytest.raises(ValueError, match="avx512 is not supported here"):
        dec.constrained_logprobs(np.zeros((1, 8), np.float32), np.array([[1]]), isa="avx512")
