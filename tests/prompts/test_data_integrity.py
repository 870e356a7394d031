"""Bad data files are refused with file and line (issue 13): repeated item ids, undecodable bytes, a data dir that
is a file; a UTF-8 byte-order mark is accepted and dropped; a split with no file is its own exception type."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from medadapt.prompts import DataFormatError, load_task


def _medmcqa_row(item_id: str, k: int) -> dict[str, object]:
    return {
        "id": item_id,
        "question": f"Which nerve supplies muscle {k}?",
        "opa": "Radial",
        "opb": "Ulnar",
        "opc": "Median",
        "opd": "Axillary",
        "cop": 1 + k % 4,
        "subject_name": "Anatomy",
    }


def _write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_duplicate_medmcqa_id_is_refused_with_file_line_and_id(tmp_path: Path) -> None:
    ids = [f"q{k}" for k in range(12)]
    ids[11] = "q4"  # 12 rows, 11 distinct ids: scored as 11 items before
    path = _write_jsonl(tmp_path / "medmcqa" / "dev.json", [_medmcqa_row(i, k) for k, i in enumerate(ids)])
    message = f"{path}:12: field 'id' duplicate item id 'q4' (first at line 5)"
    with pytest.raises(DataFormatError, match=re.escape(message)):
        load_task("medmcqa", tmp_path, "test")


def test_duplicate_id_in_the_hugging_face_layout_is_refused(tmp_path: Path) -> None:
    rows = [dict(_medmcqa_row(f"q{k}", k), cop=k % 4) for k in range(4)] + [
        dict(_medmcqa_row("q1", 9), cop=0)
    ]
    path = _write_jsonl(tmp_path / "medmcqa" / "validation.jsonl", rows)
    _write_jsonl(tmp_path / "medmcqa" / "train.jsonl", rows[:4])
    with pytest.raises(DataFormatError, match=re.escape(f"{path}:5: field 'id' duplicate item id 'q1'")):
        load_task("medmcqa", tmp_path, "test")


def test_duplicate_mednli_pair_id_and_pubmedqa_pmid_are_refused(tmp_path: Path) -> None:
    pair = {"sentence1": "Fever.", "sentence2": "Febrile.", "gold_label": "entailment", "pairID": "p1"}
    path = _write_jsonl(tmp_path / "mednli" / "mli_test_v1.jsonl", [pair, dict(pair, pairID="p2"), pair])
    with pytest.raises(DataFormatError, match=re.escape(f"{path}:3: field 'pairID' duplicate item id 'p1'")):
        load_task("mednli", tmp_path, "test")
    record = '{"QUESTION": "Q?", "CONTEXTS": ["c"], "final_decision": "yes"}'
    folder = tmp_path / "pubmedqa"
    folder.mkdir()
    (folder / "ori_pqal.json").write_text(
        f'{{"11": {record}, "12": {record}, "11": {record}}}', encoding="utf-8"
    )
    (folder / "test_ground_truth.json").write_text('{"11": "yes"}', encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"ori_pqal\.json: field '11' is a duplicate key"):
        load_task("pubmedqa", tmp_path, "test")


def _mmlu_csv(folder: Path, name: str, data: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)
    return folder / name


def test_utf8_bom_is_dropped(tmp_path: Path) -> None:
    rows = b"What is the largest bone?,Femur,Tibia,Ulna,Rib,A\r\nWhich organ filters blood?,Liver,Kidney,Lung,Skin,B\r\n"
    _mmlu_csv(tmp_path / "mmlu", "anatomy_test.csv", b"\xef\xbb\xbf" + rows)
    data = load_task("mmlu_anatomy", tmp_path, "test")
    assert data.examples[0].question == "What is the largest bone?"
    row = json.dumps(
        {"question": "Q?", "options": dict(zip("ABCDE", "abcde", strict=True)), "answer_idx": "B"}
    )
    (tmp_path / "medqa").mkdir()
    (tmp_path / "medqa" / "test.jsonl").write_bytes(b"\xef\xbb\xbf" + row.encode() + b"\n")
    assert load_task("medqa", tmp_path, "test").examples[0].question == "Q?"


def test_latin1_byte_is_an_error_with_file_and_line(tmp_path: Path) -> None:
    data = (
        b"What is the largest bone?,Femur,Tibia,Ulna,Rib,A\n"
        b"Which organ filters blood?,Liver,Kidney,Lung,Skin,B\n"
        b"Where is the caf\xe9 reflex?,Arm,Leg,Face,Neck,C\n"
    )
    path = _mmlu_csv(tmp_path / "mmlu", "anatomy_test.csv", data)
    with pytest.raises(DataFormatError, match=re.escape(f"{path}:3: is not valid UTF-8: byte 0xe9")):
        load_task("mmlu_anatomy", tmp_path, "test")
    jsonl = tmp_path / "medmcqa" / "dev.json"
    _write_jsonl(jsonl, [_medmcqa_row("q0", 0)])
    jsonl.write_bytes(jsonl.read_bytes() + b'{"id": "q1", "question": "Caf\xe9?"}\n')
    with pytest.raises(DataFormatError, match=re.escape(f"{jsonl}:2: is not valid UTF-8")):
        load_task("medmcqa", tmp_path, "test")


def test_data_dir_that_is_a_file_is_not_reported_missing(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "data.zip"
    not_a_dir.write_bytes(b"PK")
    with pytest.raises(
        NotADirectoryError, match=re.escape(f"data directory {not_a_dir} is a file, not a directory")
    ):
        load_task("medqa", not_a_dir, "test")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_task("medqa", tmp_path / "nowhere", "test")


def test_a_split_without_a_file_is_a_missing_split_error(tmp_path: Path) -> None:
    from medadapt.prompts.tasks.task_data import MissingSplitError

    row = {"question": "Q?", "options": dict(zip("ABCDE", "abcde", strict=True)), "answer_idx": "B"}
    _write_jsonl(tmp_path / "medqa" / "test.jsonl", [row])
    with pytest.raises(MissingSplitError, match=r"dev\.jsonl"):
        load_task("medqa", tmp_path, "val")
    (tmp_path / "medqa" / "dev.jsonl").write_text('{"question": "Q?"\n', encoding="utf-8")
    with pytest.raises(DataFormatError) as caught:
        load_task("medqa", tmp_path, "val")
    assert not isinstance(caught.value, MissingSplitError)
