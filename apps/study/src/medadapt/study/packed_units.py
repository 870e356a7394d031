"""Units smaller than a batch, scored together.

The paper's grid has up to 110 prompt candidates per (model, task, setting, decoding). When each candidate scores only
a few validation items (a small validation split, a rehearsal), one adapter call per candidate is mostly call
overhead: here the rows of several units share batches instead. Every record keeps its own unit's run key, so the
store holds exactly what running each unit alone would have written, and `run_unit` afterwards finds them done.

Batches are fixed slices of the (unit, item) rows in grid order, whatever is already stored; a slice with any row
missing is computed whole (rows already stored are not written twice). So a resumed study batches exactly as an
uninterrupted one and gets the same numbers. Greedy rows are batched only with rows that have the same stop strings
(one `generate` call takes one list).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medadapt.study.engine import (
    OptionTokenCache,
    PromptBuilder,
    ShotsFor,
    UnitSpec,
    cache_entries,
    compute_records,
    prompt_record,
    records_from_outputs,
)
from medadapt.study.prediction_cache import PredictionCache
from medadapt.study.store import ShardWriter

if TYPE_CHECKING:
    from medadapt.models import Adapter
    from medadapt.prompts import Prompt, QAExample


@dataclass(frozen=True)
class PackedUnit:
    """One unit to pack: what it is, its items and the few-shot demos of each item."""

    unit: UnitSpec
    examples: Sequence[QAExample]
    shots_for: ShotsFor


@dataclass(frozen=True)
class _Row:
    unit: UnitSpec
    key: str
    example: QAExample
    prompt: Prompt


def packs(n_items: int, batch_size: int) -> bool:
    """Whether units of `n_items` items are worth packing: one alone would leave its batch part empty."""
    return 0 < n_items < batch_size


def run_packed(
    adapter: Adapter,
    units: Sequence[PackedUnit],
    writer: ShardWriter,
    *,
    batch_size: int,
    builder: PromptBuilder,
    option_tokens: OptionTokenCache,
    cache_root: Path | None = None,
) -> None:
    """Store every (unit, item) of `units` not yet stored, in shared batches. The units must decode alike (one
    decoding, extraction and token budget: the candidates of one selection)."""
    if not units:
        return
    decodings = {(u.unit.decoding, u.unit.extraction, u.unit.max_new_tokens) for u in units}
    if len(decodings) > 1:
        raise ValueError(f"packed units must decode alike, got {sorted(decodings)}")
    for packed in units:
        writer.add_unit(packed.unit.key, packed.unit.descriptor())
    rows = [
        _Row(packed.unit, packed.unit.key, example, builder.build(example, packed.unit.prompt, packed.shots_for(example)))
        for packed in units
        for example in packed.examples
    ]
    caches = {u.unit.key: PredictionCache(cache_root, u.unit.key) for u in units} if cache_root is not None else {}
    for batch in _batches(rows, batch_size, by_stop=units[0].unit.decoding == "greedy"):
        if all(row.example.id in writer.done_ids(row.key) for row in batch):
            continue
        records = _cached(caches, batch)
        if records is None:
            records = compute_records(
                adapter, batch[0].unit, [r.key for r in batch], [r.example for r in batch],
                [r.prompt for r in batch], option_tokens,
            )
            _publish(caches, batch, records)
        writer.add_batch([prompt_record(r.prompt) for r in batch], records)


def _batches(rows: list[_Row], batch_size: int, *, by_stop: bool) -> list[list[_Row]]:
    """Fixed slices of the rows in order; for generation, of each group of rows with the same stop strings."""
    groups: dict[tuple[str, ...], list[_Row]] = {}
    for row in rows:
        groups.setdefault(tuple(row.prompt.stop) if by_stop else (), []).append(row)
    return [group[i : i + batch_size] for group in groups.values() for i in range(0, len(group), batch_size)]


def _cached(caches: dict[str, PredictionCache], batch: list[_Row]) -> list[dict[str, Any]] | None:
    """The batch's records from the prediction cache, or None unless every row is there (then the batch is not
    scored, as `run_unit` does for a batch of one unit)."""
    if not caches:
        return None
    outputs = [caches[r.key].get(cache_entries([r.example], [r.prompt])[0]) for r in batch]
    if any(o is None for o in outputs):
        return None
    return records_from_outputs([r.key for r in batch], [r.example for r in batch], [r.prompt for r in batch], outputs)


def _publish(caches: dict[str, PredictionCache], batch: list[_Row], records: list[dict[str, Any]]) -> None:
    """Add a computed batch to each of its units' caches."""
    if not caches:
        return
    by_key: dict[str, list[int]] = {}
    for i, row in enumerate(batch):
        by_key.setdefault(row.key, []).append(i)
    for key, indices in by_key.items():
        caches[key].put(
            cache_entries([batch[i].example for i in indices], [batch[i].prompt for i in indices]),
            [records[i] for i in indices],
        )
