"""Loaders on the real files of ../shared/data: counts per split equal SOURCE.md, and the fields map right."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from medadapt.prompts import load_task, question_text
from medadapt.prompts.task_counts import SOURCE_MD_ROWS, SOURCE_MD_SELECTED, count_tasks


@pytest.mark.parametrize(("task", "split"), sorted(SOURCE_MD_ROWS))
def test_rows_read_equal_source_md(shared_data: Path, task: str, split: str) -> None:
    data = load_task(task, shared_data, split)
    assert data.n_read == SOURCE_MD_ROWS[(task, split)]
    assert len(data.examples) + sum(data.filtered.values()) <= data.n_read


def test_unfiltered_tasks_keep_every_row(shared_data: Path) -> None:
    for (task, split), rows in SOURCE_MD_ROWS.items():
        if task.startswith(("mmlu_", "medqa", "medmcqa", "pubmedqa")):
            data = load_task(task, shared_data, split)
            assert len(data.examples) == rows and data.filtered == {}


def test_slake_selection_matches_source_md(shared_data: Path) -> None:
    for split in ("train", "val", "test"):
        data = load_task("slake", shared_data, split)
        closed_en = data.n_read - data.filtered["not English"] - data.filtered["open-ended"]
        assert closed_en == SOURCE_MD_SELECTED[("slake", split)]
        assert closed_en == len(data.examples) + data.filtered.get("answer not among the options", 0)
        assert all(e.answer_text in e.options and e.images[0].endswith("source.jpg") for e in data.examples)


def test_vqa_rad_test_closed_count_and_images(shared_data: Path) -> None:
    data = load_task("vqa-rad", shared_data, "test")
    assert data.n_read - data.filtered["open-ended"] == SOURCE_MD_SELECTED[("vqa-rad", "test")]
    yes_no = [e for e in data.examples if e.options == ("yes", "no")]
    assert len(yes_no) == 251  # SOURCE.md: closed-ended yes/no test subset
    assert all(Path(e.images[0]).is_file() for e in data.examples)


def test_vqa_rad_validation_is_disjoint_by_default(shared_data: Path) -> None:
    train = load_task("vqa-rad", shared_data, "train")
    val = load_task("vqa-rad", shared_data, "val")
    assert not {e.group for e in train.examples} & {e.group for e in val.examples}
    study_train = load_task("vqa-rad", shared_data, "train", study_compat=True)
    study_val = load_task("vqa-rad", shared_data, "val", study_compat=True)
    assert {e.id for e in study_val.examples} <= {e.id for e in study_train.examples}  # the study's overlap
    assert len(study_val.examples) == math.ceil(0.2 * len(study_train.examples))
    assert all(e.options == ("yes", "no") for e in study_train.examples)  # non yes/no were fixed by hand


def test_medmcqa_cop_is_one_based(shared_data: Path) -> None:
    data = load_task("medmcqa", shared_data, "test")
    counts = {letter: sum(e.answer == letter for e in data.examples) for letter in "ABCD"}
    assert counts == {"A": 1348, "B": 1085, "C": 925, "D": 825}


def test_medqa_and_pubmedqa_labels(shared_data: Path) -> None:
    medqa = load_task("medqa-usmle", shared_data, "test")
    assert {letter: sum(e.answer == letter for e in medqa.examples) for letter in "ABCD"} == {
        "A": 353,
        "B": 309,
        "C": 346,
        "D": 265,
    }
    test = load_task("pubmedqa", shared_data, "test")
    assert sum(e.answer_text == "yes" for e in test.examples) == 276
    val = load_task("pubmedqa", shared_data, "val")
    assert not {e.id for e in val.examples} & {e.id for e in test.examples}
    example = test.examples[0]
    assert question_text(example) == f"{example.context}\n\n{example.question}"


def test_casi_slice_is_counted_not_dropped_silently(shared_data: Path) -> None:
    # The slice holds one rare sense (FSH = Fairview Southdale Hospital) outside the sense inventory.
    data = load_task("casi-sense", shared_data, "train")
    assert data.n_read == 190 and data.examples == []
    assert data.filtered == {"gold sense not in the sense inventory (sf_lf_map.json)": 190}


def test_missing_split_names_what_was_looked_for(shared_data: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"phrases_no_exclude_train\.jsonl"):
        load_task("medqa-usmle", shared_data, "train")


def test_count_table_has_no_mismatch(shared_data: Path) -> None:
    rows = count_tasks(shared_data, ["mmlu_anatomy", "pubmedqa", "medqa-usmle"])
    assert [r.status for r in rows if r.n_read is not None] == ["ok"] * 6
