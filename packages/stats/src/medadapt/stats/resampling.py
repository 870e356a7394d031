"""Bootstrap resampling of paired differences, drawn as multinomial counts over distinct unit signatures.

The mean paired difference of a resample depends only on how many times each resampling unit (item, or cluster of
items) is drawn. Units with the same (sum of differences, size) are interchangeable, so drawing multinomial counts
over the distinct signatures has exactly the distribution of drawing unit indices with replacement, while an
item-level comparison needs only three categories (a right only, b right only, same) instead of an n-wide index
matrix. Draws are made in blocks so memory stays bounded whatever the number of resamples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

# Upper bound on multinomial count entries held at once (int64): 2**21 entries = 16 MiB.
BLOCK_ELEMENTS = 2**21


@dataclass(frozen=True)
class UnitTable:
    """Resampling units compressed to distinct (sum, size) signatures; item differences are sums / scale."""

    sums: NDArray[np.int64]
    sizes: NDArray[np.int64]
    counts: NDArray[np.int64]
    scale: int = 1

    @property
    def n_units(self) -> int:
        """Number of resampling units (items, or clusters)."""
        return int(self.counts.sum())

    @property
    def estimate(self) -> float:
        """Mean per-item difference over all units (the observed Δ)."""
        total = int((self.counts * self.sums).sum())
        size = int((self.counts * self.sizes).sum())
        return float(np.float64(total) / np.float64(size * self.scale))

    def mirrored(self) -> UnitTable:
        """The same units with the sign of every difference flipped (models a and b swapped)."""
        return _signature_table(
            np.repeat(-self.sums, self.counts), np.repeat(self.sizes, self.counts), self.scale
        )

    def orientation(self) -> int:
        """+1 or -1 picking one of (self, mirror) deterministically; 0 when the two are the same data."""
        mirror = self.mirrored()
        key = list(zip(self.sizes.tolist(), self.sums.tolist(), self.counts.tolist(), strict=True))
        mirror_key = list(
            zip(mirror.sizes.tolist(), mirror.sums.tolist(), mirror.counts.tolist(), strict=True)
        )
        if key == mirror_key:
            return 0
        return 1 if key > mirror_key else -1


def _signature_table(unit_sums: NDArray[np.int64], unit_sizes: NDArray[np.int64], scale: int) -> UnitTable:
    pairs = np.stack([unit_sizes, unit_sums], axis=1)
    unique, counts = np.unique(pairs, axis=0, return_counts=True)
    return UnitTable(
        sums=unique[:, 1].astype(np.int64),
        sizes=unique[:, 0].astype(np.int64),
        counts=counts.astype(np.int64),
        scale=scale,
    )


def unit_table(
    scaled_differences: NDArray[np.int64], group_codes: NDArray[np.int64] | None, scale: int = 1
) -> UnitTable:
    """Compress integer per-item differences (×scale) into a signature table over items or clusters."""
    d = np.asarray(scaled_differences, dtype=np.int64)
    if group_codes is None:
        return _signature_table(d, np.ones_like(d), scale)
    n_groups = int(group_codes.max()) + 1
    sums = np.zeros(n_groups, dtype=np.int64)
    np.add.at(sums, group_codes, d)
    sizes = np.bincount(group_codes, minlength=n_groups).astype(np.int64)
    return _signature_table(sums, sizes, scale)


@dataclass(frozen=True)
class TableBatch:
    """Several signature tables padded to one width, so many cells resample in one vectorised pass."""

    sums: NDArray[np.int64]  # [C, U]
    sizes: NDArray[np.int64]  # [C, U]
    counts: NDArray[np.int64]  # [C, U]; padding has count 0
    scale: NDArray[np.int64]  # [C]

    @property
    def estimate(self) -> NDArray[np.float64]:
        """Observed Δ per cell, computed the same way as each resampled Δ (so ties compare exactly)."""
        total = (self.counts * self.sums).sum(axis=1)
        size = (self.counts * self.sizes).sum(axis=1)
        return total / (size * self.scale)

    @classmethod
    def stack(cls, tables: Sequence[UnitTable]) -> TableBatch:
        """Pad tables to the widest one (zero-count padding never gets drawn)."""
        width = max(t.counts.shape[0] for t in tables)
        shape = (len(tables), width)
        sums, sizes, counts = np.zeros(shape, np.int64), np.ones(shape, np.int64), np.zeros(shape, np.int64)
        for row, t in enumerate(tables):
            u = t.counts.shape[0]
            sums[row, :u], sizes[row, :u], counts[row, :u] = t.sums, t.sizes, t.counts
        scale = np.array([t.scale for t in tables], dtype=np.int64)
        return cls(sums=sums, sizes=sizes, counts=counts, scale=scale)

    @classmethod
    def from_discordant_counts(
        cls, n_a_only: ArrayLike, n_b_only: ArrayLike, n_items: ArrayLike
    ) -> TableBatch:
        """Item-level tables straight from 2×2 counts: (a right, b wrong), (a wrong, b right), concordant."""
        a_only, b_only, n = np.broadcast_arrays(
            np.asarray(n_a_only, np.int64), np.asarray(n_b_only, np.int64), np.asarray(n_items, np.int64)
        )
        counts = np.stack([b_only, n - a_only - b_only, a_only], axis=1).astype(np.int64)
        if (counts < 0).any():
            raise ValueError("n_a_only + n_b_only exceeds n_items for some cell")
        c = counts.shape[0]
        sums = np.tile(np.array([-1, 0, 1], np.int64), (c, 1))
        return cls(sums=sums, sizes=np.ones_like(sums), counts=counts, scale=np.ones(c, np.int64))


def resample_statistics(batch: TableBatch, n_resamples: int, rng: np.random.Generator) -> NDArray[np.float64]:
    """Bootstrap Δ for every cell: [C, n_resamples], drawn in blocks along the resample axis."""
    c, u = batch.counts.shape
    n_units = batch.counts.sum(axis=1)
    probabilities = batch.counts / n_units[:, None]
    block = max(1, BLOCK_ELEMENTS // (c * u))
    out = np.empty((c, n_resamples), dtype=np.float64)
    for start in range(0, n_resamples, block):
        k = min(block, n_resamples - start)
        draws = rng.multinomial(n_units, probabilities, size=(k, c))  # [k, C, U] int64 counts
        total = np.einsum("kcu,cu->ck", draws, batch.sums)
        size = np.einsum("kcu,cu->ck", draws, batch.sizes)
        out[:, start : start + k] = total / (size * batch.scale[:, None])
    return out


def jackknife_acceleration(batch: TableBatch) -> NDArray[np.float64]:
    """BCa acceleration per cell from leave-one-unit-out estimates (weighted by how many units share them)."""
    total = (batch.counts * batch.sums).sum(axis=1, keepdims=True)
    size = (batch.counts * batch.sizes).sum(axis=1, keepdims=True)
    n_units = batch.counts.sum(axis=1, keepdims=True)
    weights = batch.counts.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        leave_one_out = (total - batch.sums) / ((size - batch.sizes) * batch.scale[:, None])
    leave_one_out = np.where(weights > 0, leave_one_out, 0.0)
    mean = (weights * leave_one_out).sum(axis=1, keepdims=True) / n_units
    deviation = mean - leave_one_out
    numerator = (weights * deviation**3).sum(axis=1)
    denominator = 6.0 * (weights * deviation**2).sum(axis=1) ** 1.5
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / denominator, 0.0)
