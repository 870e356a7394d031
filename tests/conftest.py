"""Fixtures shared by every package's tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def _shared_data_dir() -> Path | None:
    """../shared/data beside the checkout, or MEDADAPT_SHARED_DATA; None when neither exists."""
    candidates = [os.environ.get("MEDADAPT_SHARED_DATA"), REPO_ROOT.parent / "shared" / "data"]
    for candidate in candidates:
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The licensed real datasets of ../shared/data; tests that need them skip where it is absent."""
    path = _shared_data_dir()
    if path is None:
        pytest.skip("../shared/data is not beside this checkout (set MEDADAPT_SHARED_DATA)")
    return path
