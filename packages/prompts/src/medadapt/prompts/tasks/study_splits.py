"""The study's split recipes, re-implemented from their definitions (HF `train_test_split`, sklearn splits)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def hf_train_test_split(
    n: int, *, test_size: float | int | None = None, train_size: float | int | None = None, seed: int = 42
) -> tuple[list[int], list[int]]:
    """Indices (train, test) as `datasets.Dataset.train_test_split(..., seed=seed)` draws them.

    `datasets` permutes with `np.random.default_rng(seed)` and takes the test part first.
    """
    if test_size is None and train_size is None:
        test_size = 0.25
    n_test = _size(n, test_size, round_up=True) if test_size is not None else None
    n_train = _size(n, train_size, round_up=False) if train_size is not None else None
    if n_test is None:
        assert n_train is not None
        n_test = n - n_train
    if n_train is None:
        n_train = n - n_test
    if n_train + n_test > n or n_train <= 0 or n_test <= 0:
        raise ValueError(f"cannot split {n} rows into train={n_train} and test={n_test}")
    permutation = np.random.default_rng(seed).permutation(n)
    test = permutation[:n_test].tolist()
    train = permutation[n_test : n_test + n_train].tolist()
    return train, test


def _size(n: int, size: float | int, *, round_up: bool) -> int:
    if isinstance(size, float):
        if not 0.0 < size < 1.0:
            raise ValueError(f"a fractional split size must be in (0, 1), got {size}")
        return math.ceil(size * n) if round_up else math.floor(size * n)
    return int(size)


def sklearn_split(
    indices: Sequence[int], *, test_size: int | float, random_state: int = 42
) -> tuple[list[int], list[int]]:
    """(rest, test) as `sklearn.model_selection.train_test_split(indices, test_size=..., random_state=...)`."""
    from sklearn.model_selection import train_test_split

    rest, test = train_test_split(list(indices), test_size=test_size, random_state=random_state)
    return [int(i) for i in rest], [int(i) for i in test]


def study_three_way_split(n: int, *, random_state: int = 42) -> dict[str, list[int]]:
    """The study's 60/20/20 recipe: `n_val = n_test = int(0.2 n)`, two sklearn splits (EHRNoteQA, CASI/MIMIC)."""
    n_hold = int(0.2 * n)
    if n_hold == 0:
        return {"train": list(range(n)), "val": [], "test": []}
    rest, test = sklearn_split(range(n), test_size=n_hold, random_state=random_state)
    train, val = sklearn_split(rest, test_size=n_hold, random_state=random_state)
    return {"train": train, "val": val, "test": test}
