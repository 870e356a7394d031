"""The study's split loading never mistakes a bad file for a missing split (issue 13): only a split with no file is
carved from the test set; a malformed, undecodable or repeated-id file stops the run naming file and line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from medadapt.study.errors import StudyError
from medadapt.study.task_data import load_task_splits


def _medqa_row(k: int) -> dict[str, object]:
    options = {letter: f"option {letter}{k}" for letter in "ABCDE"}
    return {"question": f"Question {k}?", "options": options, "answer_idx": "ABCDE"[k % 5]}


def _write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _splits(data_dir: Path, task: str = "medqa") -> object:
    return load_task_splits(
        task, data_dir, max_test_items=None, max_val_items=500, val_seed=42, study_compat=False
    )


def test_missing_splits_are_carved_from_the_test_set(tmp_path: Path) -> None:
    _write_jsonl(tmp_path / "medqa" / "test.jsonl", [_medqa_row(k) for k in range(40)])
    splits = _splits(tmp_path)
    assert splits.carved == ["val", "train"]  # type: ignore[attr-defined]
    assert len(splits.test) + len(splits.val) + len(splits.train) == 40  # type: ignore[attr-defined]


def test_malformed_dev_file_under_a_path_named_split_is_an_error(tmp_path: Path) -> None:
    """The old check took any ValueError whose text had 'split' in it for a missing split: the bad dev file was
    ignored (its path is under `splits/`) and val was carved from the test set."""
    data_dir = tmp_path / "splits"
    _write_jsonl(data_dir / "medqa" / "test.jsonl", [_medqa_row(k) for k in range(40)])
    dev = _write_jsonl(data_dir / "medqa" / "dev.jsonl", [_medqa_row(0)])
    dev.write_text(dev.read_text(encoding="utf-8") + '{"question": "cut off\n', encoding="utf-8")
    with pytest.raises(StudyError, match=re.escape(f"task 'medqa' (val): {dev}:2: invalid JSON")):
        _splits(data_dir)


def test_repeated_item_id_stops_the_run_naming_file_line_and_id(tmp_path: Path) -> None:
    row = {
        "question": "Q?",
        "opa": "a",
        "opb": "b",
        "opc": "c",
        "opd": "d",
        "cop": 1,
        "subject_name": "Anatomy",
    }
    rows = [dict(row, id=f"q{k}") for k in range(11)] + [dict(row, id="q3")]
    path = _write_jsonl(tmp_path / "medmcqa" / "dev.json", rows)
    with pytest.raises(
        StudyError, match=re.escape(f"{path}:12: field 'id' duplicate item id 'q3' (first at line 4)")
    ):
        _splits(tmp_path, "medmcqa")


def test_bom_accepted_and_latin1_byte_named_by_file_and_line(tmp_path: Path) -> None:
    test = tmp_path / "medqa" / "test.jsonl"
    _write_jsonl(test, [_medqa_row(k) for k in range(30)])
    test.write_bytes(b"\xef\xbb\xbf" + test.read_bytes())
    splits = _splits(tmp_path)
    assert all("\ufeff" not in e.question for e in [*splits.test, *splits.val, *splits.train])  # type: ignore[attr-defined]
    test.write_bytes(test.read_bytes().replace(b"Question 2?", b"Question 2\xe9?"))
    with pytest.raises(StudyError, match=re.escape(f"{test}:3: is not valid UTF-8: byte 0xe9")):
        _splits(tmp_path)


def test_data_dir_that_is_a_file_gets_its_own_error(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "medqa.tar"
    not_a_dir.write_bytes(b"\0" * 10)
    with pytest.raises(StudyError, match=re.escape(f"data directory {not_a_dir} is a file, not a directory")):
        _splits(not_a_dir)
    with pytest.raises(StudyError, match="data file missing"):
        _splits(tmp_path / "absent")
