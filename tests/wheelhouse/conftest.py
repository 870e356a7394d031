"""The packaging tests' marker: the wheelhouse test builds wheels and venvs, run by `hatch run dist:test`."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "packaging: builds the wheelhouse and installs each distribution alone (`hatch run dist:test`)"
    )
