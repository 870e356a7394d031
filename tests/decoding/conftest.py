"""Fixtures of the decoding tests: backend parametrisation shared by the kernel tests: every compiled kernel, skipped with a reason when absent."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import medadapt.decoding as dec
from medadapt.decoding import _native


def _cuda_device_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def _cpu_isas() -> list[str]:
    if "cpu" not in dec.backends():
        return []
    best = _native._core.cpu_isa()
    return {"avx512": ["baseline", "avx2", "avx512"], "avx2": ["baseline", "avx2"]}.get(best, ["baseline"])


def backend_params() -> list[object]:
    """(backend, isa) pairs: each CPU instruction-set build this processor runs, CUDA, and the numpy fallback."""
    params: list[object] = []
    if "cpu" in dec.backends():
        params += [pytest.param(("cpu", isa), id=f"cpu-{isa}") for isa in _cpu_isas()]
        for isa in ("baseline", "avx2", "avx512"):
            if isa not in _cpu_isas():
                params.append(
                    pytest.param(
                        ("cpu", isa),
                        id=f"cpu-{isa}",
                        marks=pytest.mark.skip(reason=f"this processor cannot run the {isa} build"),
                    )
                )
    else:
        params.append(
            pytest.param(("cpu", None), id="cpu", marks=pytest.mark.skip(reason="no compiled CPU kernel"))
        )
    cuda_marks = [pytest.mark.gpu]
    if "cuda" not in dec.backends():
        cuda_marks.append(pytest.mark.skip(reason="built without CUDA"))
    elif not _cuda_device_available():
        cuda_marks.append(pytest.mark.skip(reason="no CUDA device (or no CUDA-enabled torch) here"))
    params.append(pytest.param(("cuda", None), id="cuda", marks=cuda_marks))
    params.append(pytest.param(("numpy", None), id="numpy"))
    return params


def run_backend(
    backend: tuple[str, str | None], logits: object, ids: object, **kwargs: object
) -> dec.ConstrainedResult:
    """Call constrained_logprobs on one backend; CUDA inputs are moved to the GPU as torch tensors."""
    name, isa = backend
    if name == "cuda":
        import numpy as np
        import torch

        dtype = kwargs.pop("dtype", None)
        array = np.asarray(logits)
        if dtype == "bfloat16":
            tensor = torch.from_numpy(array.view(np.int16).copy()).view(torch.bfloat16)
        else:
            tensor = torch.from_numpy(np.ascontiguousarray(array))
        return dec.constrained_logprobs(tensor.cuda(), ids, **kwargs)
    if name == "cpu":
        return dec.constrained_logprobs(logits, ids, backend="cpu", isa=isa, **kwargs)
    return dec.constrained_logprobs(logits, ids, backend="numpy", **kwargs)


@pytest.fixture(params=backend_params())
def backend(request: pytest.FixtureRequest) -> tuple[str, str | None]:
    """One kernel build: ("cpu", isa), ("cuda", None) or ("numpy", None)."""
    return request.param


@pytest.fixture
def run(backend: tuple[str, str | None]) -> Callable[..., dec.ConstrainedResult]:
    """constrained_logprobs bound to the backend under test."""
    return lambda logits, ids, **kwargs: run_backend(backend, logits, ids, **kwargs)
