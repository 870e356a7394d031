"""Batch planning for scoring and generation: length-sorted batches, the token prefix all prompts share, packs."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["common_prefix_length", "length_sorted_batches", "packed_groups", "packing_pays"]


def length_sorted_batches(
    lengths: Sequence[int], batch_size: int, max_batch_tokens: int | None = None
) -> list[list[int]]:
    """Indices grouped longest-first so padding is small; a batch holds ≤ batch_size rows and ≤ max_batch_tokens."""
    if batch_size < 1:
        raise ValueError(f"batch_size: expected ≥ 1, got {batch_size}")
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches: list[list[int]] = []
    current: list[int] = []
    for index in order:
        # Rows are sorted descending, so the batch's padded width is its first row's length.
        width = lengths[current[0]] if current else lengths[index]
        too_many = len(current) >= batch_size
        too_big = max_batch_tokens is not None and current and width * (len(current) + 1) > max_batch_tokens
        if current and (too_many or too_big):
            batches.append(current)
            current = []
        current.append(index)
    if current:
        batches.append(current)
    return batches


def common_prefix_length(sequences: Sequence[Sequence[int]]) -> int:
    """Length of the token prefix every sequence starts with (0 for fewer than one sequence)."""
    if not sequences:
        return 0
    first = sequences[0]
    limit = min(len(s) for s in sequences)
    n = 0
    while n < limit and all(s[n] == first[n] for s in sequences):
        n += 1
    return n


def packed_groups(lengths: Sequence[int], prefix_length: int, max_elements: int) -> list[list[int]]:
    """Consecutive runs of rows to pack into one sequence after a prefix, each run's attention mask
    (Σ lengths) × (prefix_length + Σ lengths) kept ≤ max_elements; a row over the limit alone is a run of its own."""
    groups: list[list[int]] = []
    current: list[int] = []
    total = 0
    for index, length in enumerate(lengths):
        grown = total + length
        if current and grown * (prefix_length + grown) > max_elements:
            groups.append(current)
            current, total = [], 0
        current.append(index)
        total += length
    if current:
        groups.append(current)
    return groups


def packing_pays(lengths: Sequence[int], prefix_length: int, hidden_size: int) -> bool:
    """Whether one packed row is cheaper than left-padded rows for these suffixes after a shared prefix.

    Costs in token-equivalents: a token's dense work in a Llama-shaped layer is ≈ 24·h² FLOPs, attending to one key
    ≈ 4·h, so a key costs α = 1/(6h) of a token. Padded rows pay for padding up to the longest suffix; the packed
    row pays for every query meeting every packed key (the mask hides, it does not skip). So packing wins on ragged
    batches and loses on batches of near-equal lengths (length-sorted batches of a large set).
    """
    alpha = 1.0 / (6.0 * hidden_size)
    rows, longest, total = len(lengths), max(lengths), sum(lengths)
    padded = rows * longest * (1.0 + alpha * (prefix_length + longest))
    packed = total * (1.0 + alpha * (prefix_length + total))
    return packed < padded
