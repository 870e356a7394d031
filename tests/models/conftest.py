"""Tiny models for tests/models, built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from medadapt.models.testing import build_tiny_causal_lm


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 2-layer Llama with the locally trained tokenizer."""
    return build_tiny_causal_lm(tmp_path_factory.mktemp("models") / "tiny-llama")
