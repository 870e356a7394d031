"""Fixtures of the study app's tests: tiny demo models built once per session, the tiny demo config."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The tiny general model and its 'medical' copy (a few steps of continued pretraining), built offline."""
    from rich.console import Console

    from medadapt.study.demo import build_demo_models

    cache = tmp_path_factory.mktemp("demo-cache")
    return build_demo_models(cache, tiny=True, console=Console(quiet=True))


@pytest.fixture(scope="session")
def tiny_cache(tiny_models: tuple[Path, Path]) -> Path:
    """The cache directory holding the tiny demo models (for `medadapt demo --tiny --cache-dir`)."""
    return tiny_models[0].parent


@pytest.fixture(scope="session", autouse=True)
def no_shared_prediction_cache() -> Iterator[None]:
    """Tests never read or write the user's prediction cache; the tests of the cache give their own `cache_dir`."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MEDADAPT_PREDICTION_CACHE", "off")
        yield
