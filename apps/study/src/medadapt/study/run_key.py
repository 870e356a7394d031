"""The run key: one hash of everything that determines a unit's predictions, so a study resumes by key."""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from typing import Any

# The distributions whose code turns a (model, prompt, item) into a prediction. Their minor versions are part of
# every key: a change in how prompts are rendered or options scored must not reuse old predictions.
SCORING_PATH_DISTRIBUTIONS = ("medadapt-prompts", "medadapt-decoding", "medadapt-models")


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace: the byte string that is hashed."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


@lru_cache(maxsize=1)
def _versions() -> tuple[tuple[str, str], ...]:
    return tuple(sorted(scoring_path_versions_uncached().items()))


def scoring_path_versions() -> dict[str, str]:
    """major.minor of each scoring-path distribution, read once per process."""
    return dict(_versions())


def scoring_path_versions_uncached() -> dict[str, str]:
    """major.minor of each scoring-path distribution (a patch release must not invalidate a study)."""
    versions: dict[str, str] = {}
    for dist in SCORING_PATH_DISTRIBUTIONS:
        try:
            full = version(dist)
        except PackageNotFoundError:
            full = "absent"
        versions[dist] = ".".join(full.split(".")[:2])
    return versions


def run_key(descriptor: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of a unit descriptor (model, revision, task, split, format, shots, ...)."""
    return hashlib.sha256(canonical_json(descriptor).encode("utf-8")).hexdigest()
