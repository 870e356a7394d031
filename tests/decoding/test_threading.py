"""The CPU kernel's threads: same results for any thread count and pool (ours or torch's OpenMP team), from several
Python threads, after fork()."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
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


def _run_python(code: str, **env: str) -> str:
    """Runs code in a fresh interpreter (which runtimes are loaded is per process) and returns its stdout."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **env},
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_own_pool_without_an_openmp_runtime_loaded() -> None:
    out = _run_python(
        """
        import sys
        import medadapt.decoding as dec
        assert "torch" not in sys.modules
        print(dec.cpu_thread_pool())
        """
    )
    assert out.split() == ["own"]


@pytest.mark.skipif(sys.platform != "linux", reason="the OpenMP runtime is found among Linux shared objects")
def test_borrows_torchs_openmp_team_and_agrees_with_own_pool() -> None:
    pytest.importorskip("torch")
    out = _run_python(
        """
        import numpy as np, torch
        import medadapt.decoding as dec
        torch.ones(1000).sum()  # torch's OpenMP runtime is loaded (and its team started)
        rng = np.random.default_rng(3)
        logits = (rng.standard_normal((9, 50_003)) * 4).astype(np.float32)
        ids = rng.integers(0, 50_003, (9, 5))
        borrowed_name = dec.cpu_thread_pool()
        borrowed = [dec.constrained_logprobs(torch.from_numpy(logits), ids, threads=t) for t in (2, 3)]
        torch.set_num_threads(1)
        one = dec._native._core.cpu_default_threads()  # the borrowed team's size follows torch's setting
        torch.set_num_threads(2)
        two = dec._native._core.cpu_default_threads()
        assert (one, two) == (1, 2), (one, two)
        dec.set_cpu_thread_pool("own")
        own_name = dec.cpu_thread_pool()
        own = dec.constrained_logprobs(logits, ids, threads=2)
        for got in borrowed:
            np.testing.assert_allclose(got.logprobs, own.logprobs, rtol=1e-6, atol=1e-6)
            np.testing.assert_array_equal(got.top_token, own.top_token)
        print(borrowed_name)
        print(own_name)
        """
    )
    borrowed_name, own_name = out.split()
    assert borrowed_name.startswith("openmp:") and ("gomp" in borrowed_name or "iomp" in borrowed_name)
    assert own_name == "own"


@pytest.mark.skipif(sys.platform != "linux", reason="fork semantics tested on Linux")
def test_forked_child_of_a_borrowing_parent_uses_its_own_pool() -> None:
    pytest.importorskip("torch")
    out = _run_python(
        """
        import os, warnings
        import numpy as np, torch
        import medadapt.decoding as dec
        torch.ones(1000).sum()
        logits = np.random.default_rng(5).standard_normal((4, 70_001)).astype(np.float32)
        ids = np.array([[1, 2, 3]] * 4)
        want = dec.constrained_logprobs(logits, ids, threads=2)  # the parent ran on torch's team
        assert dec.cpu_thread_pool().startswith("openmp:")
        read, write = os.pipe()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:
            got = dec.constrained_logprobs(logits, ids, threads=2)  # libgomp's team would hang here
            same = np.allclose(got.logprobs, want.logprobs, rtol=1e-6, atol=1e-6)
            os.write(write, (dec.cpu_thread_pool() + (" same" if same else " differ")).encode())
            os._exit(0)
        os.close(write)
        os.waitpid(pid, 0)
        print(os.read(read, 200).decode())
        """
    )
    assert out.split() == ["own", "same"]


def test_thread_pool_choice_is_checked() -> None:
    with pytest.raises(ValueError, match="'shared'"):
        dec.set_cpu_thread_pool("shared")
    result = subprocess.run(
        [sys.executable, "-c", "import medadapt.decoding"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "MEDADAPT_DECODING_THREAD_POOL": "spin"},
        check=False,
    )
    assert result.returncode != 0
    assert "MEDADAPT_DECODING_THREAD_POOL" in result.stderr and "'spin'" in result.stderr
