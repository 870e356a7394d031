"""Check and align the two models' per-item correctness so every later step can trust it is paired and binary."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

# Per-item correctness: an array-like of 0/1 or booleans, or a mapping item id -> 0/1 (aligned by id).
Correctness = ArrayLike | Mapping[Any, Any]
Groups = ArrayLike | Mapping[Any, Any]

_SHOWN = 5


@dataclass(frozen=True)
class PairedCorrectness:
    """Two aligned 0/1 vectors over the same items, with optional item ids and cluster codes."""

    a: NDArray[np.int8]
    b: NDArray[np.int8]
    ids: tuple[Hashable, ...] | None = None
    group_codes: NDArray[np.int64] | None = None
    n_groups: int | None = None

    @property
    def n(self) -> int:
        """Number of paired items."""
        return int(self.a.shape[0])


def _describe_item(index: int, ids: Sequence[Hashable] | None) -> str:
    return f"item {index} (id {ids[index]!r})" if ids is not None else f"item {index}"


def as_binary(values: ArrayLike, name: str, ids: Sequence[Hashable] | None = None) -> NDArray[np.int8]:
    """Return `values` as an int8 0/1 vector, or raise naming the first non-binary item."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(
            f"{name} must be one-dimensional (one correctness value per item), got shape {arr.shape}"
        )
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty: a paired comparison needs at least one item")
    if arr.dtype == np.bool_:
        return arr.astype(np.int8)
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"{name} must hold 0/1 or booleans, got dtype {arr.dtype} (first value {arr[0]!r})")
    bad = np.flatnonzero(~((arr == 0) | (arr == 1)))
    if bad.size:
        first = int(bad[0])
        raise ValueError(
            f"{name} must be binary correctness (0/1 or bool): {_describe_item(first, ids)} is {arr[first].item()!r}"
            f" ({bad.size} non-binary value{'s' if bad.size > 1 else ''} in all)"
        )
    return arr.astype(np.int8)


def _id_list(ids: Sequence[Hashable], name: str) -> list[Hashable]:
    seen: set[Hashable] = set()
    duplicates = [i for i in ids if i in seen or seen.add(i)]  # type: ignore[func-returns-value]
    if duplicates:
        raise ValueError(f"{name} has duplicate item ids, e.g. {duplicates[:_SHOWN]!r}")
    return list(ids)


def align_by_id(
    ids_a: Sequence[Hashable], values_a: ArrayLike, ids_b: Sequence[Hashable], values_b: ArrayLike
) -> tuple[tuple[Hashable, ...], NDArray[Any], NDArray[Any]]:
    """Reorder b's values into a's id order, raising with the ids present on one side only."""
    list_a = _id_list(ids_a, "correct_a")
    list_b = _id_list(ids_b, "correct_b")
    arr_a, arr_b = np.asarray(values_a), np.asarray(values_b)
    if arr_a.shape[:1] != (len(list_a),) or arr_b.shape[:1] != (len(list_b),):
        raise ValueError("each id list must have one id per correctness value")
    position_b = {item: k for k, item in enumerate(list_b)}
    only_a = [i for i in list_a if i not in position_b]
    set_a = set(list_a)
    only_b = [i for i in list_b if i not in set_a]
    if only_a or only_b:
        raise ValueError(
            "item ids differ between correct_a and correct_b: "
            f"{len(only_a)} only in correct_a (e.g. {only_a[:_SHOWN]!r}), "
            f"{len(only_b)} only in correct_b (e.g. {only_b[:_SHOWN]!r})"
        )
    order = np.fromiter((position_b[i] for i in list_a), dtype=np.int64, count=len(list_a))
    return tuple(list_a), arr_a, arr_b[order]


def group_codes(groups: Groups, n: int, ids: Sequence[Hashable] | None) -> tuple[NDArray[np.int64], int]:
    """Integer cluster codes for each item (from a sequence in item order or an id -> group mapping)."""
    if isinstance(groups, Mapping):
        if ids is None:
            raise ValueError(
                "groups is a mapping of item ids, so correct_a and correct_b must be id mappings too"
            )
        missing = [i for i in ids if i not in groups]
        if missing:
            raise ValueError(f"groups has no group for {len(missing)} item ids, e.g. {missing[:_SHOWN]!r}")
        labels = [groups[i] for i in ids]
    else:
        labels = list(np.asarray(groups, dtype=object)) if not isinstance(groups, list) else groups
        if len(labels) != n:
            raise ValueError(
                f"groups has {len(labels)} entries but there are {n} paired items; give one group per item"
            )
    lookup: dict[Hashable, int] = {}
    codes = np.fromiter((lookup.setdefault(g, len(lookup)) for g in labels), dtype=np.int64, count=n)
    return codes, len(lookup)


def without_single_cluster(
    pair: PairedCorrectness, fallback: str
) -> tuple[PairedCorrectness, tuple[str, ...]]:
    """Drop a grouping that puts every item in one cluster, with a note saying so.

    Resampling one cluster always redraws the same data (a zero-width interval), so a test set whose items all
    share one subject or image is analysed item by item instead; `fallback` names what is used ("item
    bootstrap"). Returns the pair unchanged and no note when there is no grouping or at least two clusters.
    """
    if pair.group_codes is None or (pair.n_groups or 0) >= 2:
        return pair, ()
    return PairedCorrectness(a=pair.a, b=pair.b, ids=pair.ids), (f"one cluster: {fallback} used",)


def paired_correctness(
    correct_a: Correctness, correct_b: Correctness, groups: Groups | None = None
) -> PairedCorrectness:
    """Validate two correctness inputs (arrays, or id mappings aligned by id) into a PairedCorrectness."""
    ids: tuple[Hashable, ...] | None = None
    a_is_map, b_is_map = isinstance(correct_a, Mapping), isinstance(correct_b, Mapping)
    if a_is_map != b_is_map:
        raise ValueError(
            f"correct_a is {'a mapping' if a_is_map else 'a sequence'} but correct_b is "
            f"{'a mapping' if b_is_map else 'a sequence'}: pass both as id -> correctness mappings or both as sequences"
        )
    if isinstance(correct_a, Mapping) and isinstance(correct_b, Mapping):
        ids, values_a, values_b = align_by_id(
            list(correct_a.keys()), list(correct_a.values()), list(correct_b.keys()), list(correct_b.values())
        )
    else:
        values_a, values_b = np.asarray(correct_a), np.asarray(correct_b)
        if values_a.ndim == 1 and values_b.ndim == 1 and values_a.shape != values_b.shape:
            raise ValueError(
                f"correct_a has {values_a.shape[0]} items but correct_b has {values_b.shape[0]}: a paired comparison "
                "needs both models scored on the same items (pass id -> correctness mappings to align by id)"
            )
    a = as_binary(values_a, "correct_a", ids)
    b = as_binary(values_b, "correct_b", ids)
    if groups is None:
        return PairedCorrectness(a=a, b=b, ids=ids)
    codes, n_groups = group_codes(groups, a.shape[0], ids)
    return PairedCorrectness(a=a, b=b, ids=ids, group_codes=codes, n_groups=n_groups)
