"""The run store: atomic batches, torn tails cut on resume, one record per (run key, item), stable run keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medadapt.study.candidates import PromptChoice, candidate_grid, select_best
from medadapt.study.config import PromptSelection
from medadapt.study.jsonl import JsonlAppender, read_jsonl, repair_torn_tail
from medadapt.study.run_key import run_key
from medadapt.study.store import ShardWriter, read_store


def test_run_key_is_order_independent_and_sensitive() -> None:
    a = run_key({"model": {"name": "m"}, "task": "t", "shots": 3})
    assert a == run_key({"shots": 3, "task": "t", "model": {"name": "m"}})
    assert a != run_key({"model": {"name": "m"}, "task": "t", "shots": 0})
    assert len(a) == 64


def test_torn_tail_is_cut_and_ignored(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    with JsonlAppender(path) as out:
        out.append([{"a": 1}, {"a": 2}])
    with path.open("ab") as fh:
        fh.write(b'{"a": 3, "trunc')
    assert [r["a"] for r in read_jsonl(path)] == [1, 2]
    assert repair_torn_tail(path) == len(b'{"a": 3, "trunc')
    assert path.read_bytes().endswith(b"\n")
    with JsonlAppender(path) as out:
        out.append([{"a": 4}])
    assert [r["a"] for r in read_jsonl(path)] == [1, 2, 4]


def test_appended_batches_are_readable_at_once_and_fsynced_by_interval_and_close(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kill loses nothing written (each batch is flushed); fsync waits for the interval or the close."""
    import os

    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    path = tmp_path / "p.jsonl"
    with JsonlAppender(path, sync_interval=3600.0) as out:
        out.append([{"a": 1}])
        out.append([{"a": 2}])
        assert [r["a"] for r in read_jsonl(path)] == [1, 2]
        assert synced == []
    assert len(synced) == 1
    with JsonlAppender(path, sync_interval=0.0) as out:
        out.append([{"a": 3}])
        out.append([{"a": 4}])
        assert len(synced) == 3
    assert len(synced) == 3  # nothing left unsynced at close
    assert [r["a"] for r in read_jsonl(path)] == [1, 2, 3, 4]


def test_torn_only_line(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_bytes(b'{"x"')
    assert repair_torn_tail(path) == 4 and path.read_bytes() == b""


def test_shard_writer_skips_done_items_and_dedupes_prompts(tmp_path: Path) -> None:
    def record(i: str) -> dict[str, object]:
        return {"key": "k1", "id": i, "correct": i == "a", "prompt": "h"}

    with ShardWriter(tmp_path, "m--t") as shard:
        shard.add_unit("k1", {"x": 1})
        shard.add_batch([{"hash": "h", "text": "T"}], [record("a"), record("b")])
        assert shard.done_ids("k1") == {"a", "b"}
    with ShardWriter(tmp_path, "m--t") as shard:
        shard.add_unit("k1", {"x": 1})
        shard.add_batch([{"hash": "h", "text": "T"}], [record("b"), record("c")])
        assert shard.correctness("k1", ["a", "b", "c"]) == [True, False, False]
    view = read_store(tmp_path)
    assert sorted(view.records("k1")) == ["a", "b", "c"] and view.duplicates == 0
    shard_dir = tmp_path / "store" / "m--t"
    assert len((shard_dir / "prompts.jsonl").read_text().splitlines()) == 1
    assert len((shard_dir / "units.jsonl").read_text().splitlines()) == 1
    assert json.loads((shard_dir / "units.jsonl").read_text())["unit"] == {"x": 1}


def test_second_writer_of_a_shard_is_refused(tmp_path: Path) -> None:
    from medadapt.study.errors import StudyError

    with ShardWriter(tmp_path, "s"), pytest.raises(StudyError, match="another process"), ShardWriter(tmp_path, "s"):
        pass


def test_candidate_grid_order_and_strict_tie_break() -> None:
    selection = PromptSelection(mode="model-specific", n_formats=2, n_shot_seeds=3)
    grid = candidate_grid(selection, style="chat", system_prompt="S", shots=3, formats=[{"f": 0}, {"f": 1}])
    assert [(c.format_seed, c.shot_seed) for c in grid] == [(s, k) for s in (None, 0, 1) for k in (0, 1, 2)]
    zero = candidate_grid(selection, style="chat", system_prompt="S", shots=0, formats=[{"f": 0}, {"f": 1}])
    assert [c.label for c in zero] == ["default", "format 0", "format 1"]
    assert select_best([0.5, 0.7, 0.7, 0.6]) == 1
    assert select_best([0.5, 0.5]) == 0
    default_only = candidate_grid(PromptSelection(), style="chat", system_prompt=None, shots=3, formats=[])
    assert default_only == [PromptChoice(style="chat", system_prompt=None, shot_seed=42)]
