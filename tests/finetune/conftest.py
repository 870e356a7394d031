"""Fixtures for the medadapt-finetune tests: a tiny random Llama and one CPU thread per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Tiny models train fastest on one thread, and a shared 2-core machine thrashes with two; restored after."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """medadapt-models' tiny random Llama with its locally trained tokenizer."""
    from medadapt.models.testing import build_tiny_causal_lm

    return build_tiny_causal_lm(tmp_path_factory.mktemp("tiny-lm") / "llama")
