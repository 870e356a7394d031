"""The shared prediction cache on its own: content addressing, atomic files, concurrent writers, the location."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from medadapt.study.prediction_cache import ENV_VAR, PredictionCache, cache_root, entry_id

KEY = "ab" + "0" * 62


def _records(n: int, offset: int = 0) -> list[dict[str, object]]:
    return [{"key": KEY, "id": f"q{i}", "pred": "A", "status": "ok", "logprobs": [-0.1, -2.0 - i], "correct": True}
            for i in range(offset, offset + n)]


def test_entries_are_found_again_by_content(tmp_path: Path) -> None:
    entries = [entry_id(f"h{i}", ["A", "B"], "A") for i in range(3)]
    PredictionCache(tmp_path, KEY).put(entries, _records(3))
    reopened = PredictionCache(tmp_path, KEY)
    assert reopened.get(entries[2]) == {"pred": "A", "status": "ok", "logprobs": [-0.1, -4.0]}
    # The run's fields (key, id, correct) are not cached; another gold answer is another entry.
    assert reopened.get(entry_id("h2", ["A", "B"], "B")) is None
    assert PredictionCache(tmp_path, "cd" + "0" * 62).get(entries[0]) is None
    (reopened.dir / ".stray.tmp").write_text("{half a line")  # a writer killed before its rename
    (reopened.dir / "torn.jsonl").write_text('{"entry": "x", "output": {"pred"')
    assert PredictionCache(tmp_path, KEY).get(entries[0]) is not None


WRITER = f"""
import sys
from pathlib import Path
from medadapt.study.prediction_cache import PredictionCache, entry_id
entries = [entry_id(f"h{{i}}", ["A", "B"], "A") for i in range(200)]
records = [{{"pred": "A", "status": "ok", "logprobs": [-0.1, -2.0]}} for _ in entries]
for _ in range(20):
    PredictionCache(Path(sys.argv[1]), "{KEY}").put(entries, records)
"""


def test_concurrent_writers_of_one_batch_leave_one_whole_file(tmp_path: Path) -> None:
    workers = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)]) for _ in range(3)]
    assert [w.wait(120) for w in workers] == [0, 0, 0]
    files = list((tmp_path / KEY[:2] / KEY).iterdir())
    assert len(files) == 1 and files[0].suffix == ".jsonl"  # no temp file left behind
    lines = files[0].read_text().splitlines()
    assert len(lines) == 200 and all(json.loads(line)["output"]["pred"] == "A" for line in lines)


def test_cache_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "env"))
    assert cache_root(tmp_path / "config") == tmp_path / "config"  # the config wins
    assert cache_root(None) == tmp_path / "env"
    monkeypatch.setenv(ENV_VAR, "off")
    assert cache_root(None) is None
    monkeypatch.delenv(ENV_VAR)
    monkeypatch.setenv("MEDADAPT_CACHE", str(tmp_path / "user"))
    assert cache_root(None) == tmp_path / "user" / "predictions"
