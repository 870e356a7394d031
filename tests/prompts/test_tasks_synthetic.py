"""Loaders of tasks with no data here (credentialed or too large), on small files written in each release's format.

Every fixture below is synthetic: tiny files in the exact published layout (docs/protocol.md#datasets-and-tasks), invented rows.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from medadapt.prompts import DataFormatError, load_task, question_text
from medadapt.prompts.tasks.closed_vqa_options import closed_options, parsed_options, study_generic_options
from medadapt.prompts.tasks.sense_loaders import parse_long_form
from medadapt.prompts.tasks.study_splits import hf_train_test_split, study_three_way_split


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


# --- MedNLI ---------------------------------------------------------------------------------------------------
def test_mednli(tmp_path: Path) -> None:
    labels = ["entailment", "contradiction", "neutral"]
    for split in ("train", "dev", "test"):
        _jsonl(
            tmp_path / "mednli" / f"mli_{split}_v1.jsonl",
            [
                {
                    "sentence1": f"Patient has fever {i}. ",
                    "sentence2": "Patient is febrile",
                    "gold_label": labels[i % 3],
                    "pairID": f"{split}-{i}",
                }
                for i in range(4)
            ],
        )
    data = load_task("mednli", tmp_path, "val")
    assert len(data.examples) == 4 and data.examples[1].answer == "B"
    assert data.examples[0].question == 'Premise: "Patient has fever 0."\nHypothesis: "Patient is febrile".'
    _jsonl(
        tmp_path / "mednli" / "mli_test_v1.jsonl",
        [{"sentence1": "a", "sentence2": "b", "gold_label": "maybe"}],
    )
    with pytest.raises(DataFormatError, match=r"mli_test_v1\.jsonl:1: field 'gold_label'"):
        load_task("mednli", tmp_path, "test")


# --- EHRNoteQA ------------------------------------------------------------------------------------------------
def test_ehrnoteqa_filters_by_level_and_splits_60_20_20(tmp_path: Path) -> None:
    rows = [
        {
            "category": "level1" if i % 4 else "level2",
            "patient_id": i,
            "note_1": f"Note {i}",
            "note_2": "",
            "note_3": None,
            "question": f"What happened {i}?",
            **{f"choice_{c}": f"{c}{i}" for c in "ABCDE"},
            "answer": "C",
        }
        for i in range(20)
    ]
    _jsonl(tmp_path / "ehrnoteqa" / "EHRNoteQA_processed.jsonl", rows)
    splits = {s: load_task("ehrnoteqa", tmp_path, s) for s in ("train", "val", "test")}
    assert {s: len(d) for s, d in splits.items()} == {"train": 9, "val": 3, "test": 3}
    assert splits["test"].filtered == {"category level2 (study keeps level1)": 5}
    example = splits["test"].examples[0]
    assert question_text(example) == f"\n{example.context}\n\n\n{example.question}"
    assert example.answer_text.startswith("C")


# --- n2c2 2008 obesity (i2b2 XML) -----------------------------------------------------------------------------
RECORDS = """<?xml version="1.0" encoding="UTF-8"?>
<root><docs>{docs}</docs></root>"""
ANNOTATIONS = """<?xml version="1.0" encoding="UTF-8"?>
<diseaseset>
<diseases source="textual"><disease name="Asthma"><doc id="1" judgment="Y"/></disease></diseases>
<diseases source="intuitive">
<disease name="Asthma">{asthma}</disease>
<disease name="CAD">{cad}</disease>
</diseases>
</diseaseset>"""


def _n2c2(folder: Path, ids: range, part: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    docs = "".join(
        f'<doc id="{i}"><text><![CDATA[\nRecord #{i}\n  DISCHARGE SUMMARY {i}\n]]></text></doc>' for i in ids
    )
    asthma = "".join(f'<doc id="{i}" judgment="{"YNQ"[i % 3]}"/>' for i in ids if i % 5)
    cad = "".join(f'<doc id="{i}" judgment="N"/>' for i in ids)
    if part == "train":
        (folder / "obesity_patient_records_training.xml").write_text(
            RECORDS.format(docs=docs), encoding="utf-8"
        )
        (folder / "obesity_standoff_intuitive_annotations_training.xml").write_text(
            ANNOTATIONS.format(asthma=asthma, cad=cad), encoding="utf-8"
        )
    else:
        (folder / "obesity_patient_records_test.xml").write_text(RECORDS.format(docs=docs), encoding="utf-8")
        (folder / "obesity_standoff_annotations_test_intuitive.xml").write_text(
            ANNOTATIONS.format(asthma=asthma, cad=cad), encoding="utf-8"
        )


def test_n2c2_from_challenge_xml(tmp_path: Path) -> None:
    folder = tmp_path / "n2c2_2008"
    _n2c2(folder, range(1, 21), "train")
    _n2c2(folder, range(100, 110), "test")
    train = load_task("n2c2_2008-obesity_asthma", tmp_path, "train")
    val = load_task("n2c2_2008-obesity_asthma", tmp_path, "val")
    test = load_task("n2c2_2008-obesity_cad", tmp_path, "test")
    assert len(train) + len(val) == 16 and len(val) == 4  # 4 of 20 notes have no asthma judgment
    assert train.filtered == {"no intuitive judgment for Asthma": 4}
    assert len(test) == 10 and all(e.answer_text == "No" for e in test.examples)
    assert test.examples[0].question.endswith("DISCHARGE SUMMARY 100\n\n\nDoes this patient have CAD?")
    assert "Record #" in train.examples[0].question  # raw text kept, whitespace untouched
    (folder / "obesity_standoff_annotations_test_intuitive.xml").write_text(
        ANNOTATIONS.format(asthma='<doc id="100" judgment="X"/>', cad=""), encoding="utf-8"
    )
    with pytest.raises(DataFormatError, match="judgment"):
        load_task("n2c2_2008-obesity_asthma", tmp_path, "test")


# --- CASI / MIMIC-III sense -----------------------------------------------------------------------------------
def _sense_folder(folder: Path, csv_name: str, with_yaml: bool) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    sense_map = {
        "AB": ["abortion", "ankle-brachial;ankle brachial;Ankle-brachial"],
        "CVA": ["stroke", "costovertebral angle"],
        "ZZ": ["sleep"],
    }
    (folder / "sf_lf_map.json").write_text(json.dumps(sense_map), encoding="utf-8")
    lines = ["sf,target_lf_sense,context"]
    for i in range(30):
        sf = ["AB", "CVA", "ZZ"][i % 3]
        sense = {"AB": sense_map["AB"][i % 2], "CVA": "stroke", "ZZ": "sleep"}[sf]
        lines.append(f'{sf},"{sense}","Pt with {sf}, note {i}."')
    lines.append('AB,"arterial blood","gold outside the inventory"')
    (folder / csv_name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    if with_yaml:
        (folder / "mimic_sf.yaml").write_text("- AB\n- CVA\n", encoding="utf-8")


def test_mimic_sense_preprocessing_and_options(tmp_path: Path) -> None:
    _sense_folder(tmp_path / "mimic-iii", "mimic_rs_dataset_preprocessed_window_10.csv", with_yaml=True)
    splits = {s: load_task("mimic-iii-sense", tmp_path, s) for s in ("train", "val", "test")}
    assert {s: len(d) for s, d in splits.items()} == {"train": 12, "val": 4, "test": 4}
    assert splits["train"].filtered == {
        "gold sense not in the sense inventory (sf_lf_map.json)": 1,
        "acronym not in mimic_sf.yaml": 10,
    }
    ids = [e.id for d in splits.values() for e in d.examples]
    assert len(ids) == len(set(ids))
    ab = next(e for e in splits["train"].examples if e.group == "AB")
    assert ab.options == (
        "abortion",
        "ankle-brachial / ankle brachial",
    )  # first-seen order, lower-cased, deduped
    assert ab.question.endswith(
        'What is the correct expansion for the acronym "AB" in the above clinical note snippet?'
    )


def test_parse_long_form_study_vs_fixed() -> None:
    lf = "B;a;A;c"
    assert parse_long_form(lf, study_compat=False) == "b / a / c"
    assert sorted(parse_long_form(lf, study_compat=True).split(" / ")) == ["a", "b", "c"]
    assert parse_long_form("Single Sense", study_compat=True) == "Single Sense"


# --- PathVQA --------------------------------------------------------------------------------------------------
def test_pathvqa_release_pickles_and_processed_jsonl(tmp_path: Path) -> None:
    folder = tmp_path / "pathvqa"
    (folder / "qas" / "test").mkdir(parents=True)
    rows = [
        {
            "image": f"test_{i:04d}",
            "question": f"Is there necrosis {i}?",
            "answer": ["yes", "no", "fibrin"][i % 3],
        }
        for i in range(9)
    ]
    with (folder / "qas" / "test" / "test_qa.pkl").open("wb") as handle:
        pickle.dump(rows, handle)
    data = load_task("pathvqa", tmp_path, "test")
    assert len(data) == 6 and data.filtered == {"open-ended (answer is not yes/no)": 3}
    assert data.examples[0].images[0].endswith("images/test/test_0000.jpg")
    assert (
        load_task("pathvqa", tmp_path, "test", study_compat=True)
        .examples[0]
        .images[0]
        .endswith("images/test_0000.jpg")
    )
    _jsonl(
        folder / "closed" / "train.jsonl",
        [
            {
                "id": 1,
                "image": "train_0001.jpg",
                "options": ["yes", "no"],
                "conversations": [
                    {"from": "human", "value": "<image>\nIs this benign?"},
                    {"from": "gpt", "value": "no"},
                ],
            }
        ],
    )
    train = load_task("pathvqa", tmp_path, "train")
    assert train.examples[0].question == "Is this benign?" and train.examples[0].answer == "B"


def test_pickle_with_code_references_is_refused(tmp_path: Path) -> None:
    (tmp_path / "pathvqa").mkdir()
    with (tmp_path / "pathvqa" / "val_qa.pkl").open("wb") as handle:
        pickle.dump([{"image": Path("x")}], handle)
    with pytest.raises(DataFormatError, match="refusing"):
        load_task("pathvqa", tmp_path, "val")


# --- Closed-question options ----------------------------------------------------------------------------------
def test_closed_vqa_options() -> None:
    assert closed_options("Is it normal?", "yes", study_compat=False) == ["yes", "no"]
    assert parsed_options("Which is the biggest in this image,lung,liver or heart?") == [
        "lung",
        "liver",
        "heart",
    ]
    assert parsed_options("Is this an MRI or a CT scan?") == ["mri", "ct"]
    assert parsed_options("Is this a t1 weighted or t2 weighted mri image?") == ["t1", "t2"]
    # The study's generic parser removes every 'or' substring: 'cortex' loses its 'or'.
    assert study_generic_options("Which part,cortex or medulla?") == ["ctex", "medulla"]
    assert closed_options("Which is larger,liver or spleen?", "both", study_compat=False) == [
        "liver",
        "spleen",
        "both",
    ]


# --- Hugging Face layouts -------------------------------------------------------------------------------------
def test_hf_layout_medqa_bigbio_and_medmcqa(tmp_path: Path) -> None:
    medqa = tmp_path / "medqa"
    _jsonl(
        medqa / "test.jsonl",
        [
            {
                "question": "Q?",
                "answer_idx": "B",
                "answer": "two",
                "options": [
                    {"key": k, "value": v} for k, v in zip("ABCD", ["one", "two", "3", "4"], strict=False)
                ],
            }
        ],
    )
    data = load_task("medqa-usmle", tmp_path, "test", layout="hf")
    assert data.layout == "hf" and data.examples[0].answer == "B"
    medmcqa = tmp_path / "medmcqa"
    _jsonl(
        medmcqa / "validation.jsonl",
        [{"id": "x", "question": "Q?", "opa": "a", "opb": "b", "opc": "c", "opd": "d", "cop": 0}],
    )
    assert load_task("medmcqa", tmp_path, "test").examples[0].answer == "A"  # hub cop is 0-based


def test_hf_layout_save_to_disk_sense(tmp_path: Path) -> None:
    import datasets

    folder = tmp_path / "casi"
    rows = {
        "sf": ["AB", "AB"],
        "target_lf_sense": ["abortion", "ankle-brachial;ankle brachial"],
        "context": ["c1", "c2"],
    }
    datasets.DatasetDict(
        {s: datasets.Dataset.from_dict(rows) for s in ("train", "val", "test")}
    ).save_to_disk(str(folder))
    (folder / "sf_lf_map.json").write_text(json.dumps({"AB": ["abortion", "ankle-brachial;ankle brachial"]}))
    data = load_task("casi-sense", tmp_path, "val", layout="hf")
    assert [e.answer for e in data.examples] == ["A", "B"]


def test_hf_layout_mmmu(tmp_path: Path) -> None:
    folder = tmp_path / "mmmu" / "Diagnostics_and_Laboratory_Medicine"
    image = tmp_path / "img.png"
    image.write_bytes(b"\x89PNG fake")
    _jsonl(
        folder / "dev.jsonl",
        [
            {
                "id": f"dev_{i}",
                "question": "What? <image 1>",
                "options": "['a', 'b']",
                "answer": "A",
                "question_type": "multiple-choice",
                "image_1": str(image),
            }
            for i in range(5)
        ],
    )
    _jsonl(
        folder / "validation.jsonl",
        [
            {
                "id": f"val_{i}",
                "question": "Is $\\alpha$  high? <image 1>",
                "options": "['yes', 'no', '$\\\\beta$']",
                "answer": "B",
                "question_type": "open" if i == 0 else "multiple-choice",
                "image_1": str(image),
                "image_2": None,
            }
            for i in range(31)
        ],
    )
    task = "mmmu_diagnostics-and-laboratory-medicine"
    assert len(load_task(task, tmp_path, "train")) == 5
    val, test = load_task(task, tmp_path, "val"), load_task(task, tmp_path, "test")
    assert (len(val), len(test)) == (15, 15) and val.filtered == {"open question": 1}
    assert val.examples[0].question == "Is alpha high? <image>" and val.examples[0].options[2] == "beta"
    assert val.examples[0].images == (str(image),)
    study_val = load_task(task, tmp_path, "val", study_compat=True)
    assert len(study_val) == 5 and len(load_task(task, tmp_path, "test", study_compat=True)) == 25
    _jsonl(folder / "dev.jsonl", [{"id": "d", "question": "Q", "options": "__import__('os')", "answer": "A"}])
    with pytest.raises(DataFormatError, match="options"):
        load_task(task, tmp_path, "train")


# --- Malformed rows -------------------------------------------------------------------------------------------
def test_malformed_rows_name_file_line_and_field(tmp_path: Path) -> None:
    folder = tmp_path / "medqa"
    good = {
        "question": "Q",
        "options": {"A": "a", "B": "b", "C": "c", "D": "d"},
        "answer_idx": "A",
        "answer": "a",
    }
    _jsonl(folder / "phrases_no_exclude_test.jsonl", [good, {**good, "answer_idx": "E", "answer": "e"}])
    with pytest.raises(DataFormatError, match=r"phrases_no_exclude_test\.jsonl:2: field 'answer_idx'"):
        load_task("medqa-usmle", tmp_path, "test")
    _jsonl(folder / "phrases_no_exclude_test.jsonl", [{k: v for k, v in good.items() if k != "question"}])
    with pytest.raises(DataFormatError, match=r":1: field 'question' is missing"):
        load_task("medqa-usmle", tmp_path, "test")
    (folder / "phrases_no_exclude_test.jsonl").write_text(json.dumps(good) + "\n{broken\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r":2: invalid JSON"):
        load_task("medqa-usmle", tmp_path, "test")
    mmlu = tmp_path / "mmlu" / "test"
    mmlu.mkdir(parents=True)
    (mmlu / "anatomy_test.csv").write_text('"multi\nline?",a,b,c,d,A\nq,a,b,c,d,E\n', encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"anatomy_test\.csv:3: field 'answer \(column 6\)'"):
        load_task("mmlu_anatomy", tmp_path, "test")


def test_unknown_task_and_split() -> None:
    with pytest.raises(KeyError, match="unknown task"):
        load_task("medqa-xx", Path(), "test")
    with pytest.raises(ValueError, match="split"):
        load_task("medqa", Path(), "dev")


# --- Split recipes --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("n", "kwargs"), [(100, {"test_size": 0.2}), (37, {"test_size": 0.2}), (30, {"train_size": 5})]
)
def test_hf_split_matches_datasets(n: int, kwargs: dict) -> None:
    import datasets

    split = datasets.Dataset.from_dict({"i": list(range(n))}).train_test_split(seed=42, **kwargs)
    assert hf_train_test_split(n, seed=42, **kwargs) == (split["train"]["i"], split["test"]["i"])


def test_three_way_split_partitions() -> None:
    parts = study_three_way_split(23)
    assert sorted(parts["train"] + parts["val"] + parts["test"]) == list(range(23))
    assert len(parts["val"]) == len(parts["test"]) == 4


def test_casi_from_the_raw_umn_release(tmp_path: Path) -> None:
    folder = tmp_path / "casi"
    folder.mkdir()
    (folder / "sf_lf_map.json").write_text(
        json.dumps({"AB": ["abortion", "ankle-brachial"]}), encoding="utf-8"
    )
    (folder / "labeled_sf_lf_map.csv").write_text(
        "sf,target_lf_sense,target_label\nAB,abortion,abortion;spontaneous abortion\nAB,ankle-brachial,ankle brachial\n",
        encoding="utf-8",
    )
    lines = [
        f"AB|{'spontaneous abortion' if i % 2 else 'ankle brachial'}|AB|0|1|HPI|Caf\u00e9 note {i} AB."
        for i in range(10)
    ]
    lines.append("AB|Alberta|AB|0|1||unknown sense")
    (folder / "AnonymizedClinicalAbbreviationsAndAcronymsDataSet.txt").write_bytes(
        "\n".join(lines).encode("cp1252")
    )
    splits = {s: load_task("casi-sense", tmp_path, s) for s in ("train", "val", "test")}
    assert sum(len(d) for d in splits.values()) == 10 and splits["test"].n_read == 11
    assert splits["test"].filtered == {"gold sense not in the sense inventory (sf_lf_map.json)": 1}
    assert "Caf\u00e9" in splits["train"].examples[0].question
    (folder / "AnonymizedClinicalAbbreviationsAndAcronymsDataSet.txt").write_bytes(b"AB|only|three\n")
    with pytest.raises(DataFormatError, match=r"DataSet\.txt:1: .*7 '\|'-separated columns"):
        load_task("casi-sense", tmp_path, "test")
