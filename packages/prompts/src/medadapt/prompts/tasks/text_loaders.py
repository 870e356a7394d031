"""Loaders for the text tasks' original distributions: MedQA, MedMCQA, PubMedQA, MMLU, MedNLI, EHRNoteQA."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from medadapt.prompts.example import QAExample
from medadapt.prompts.tasks.file_lookup import find_file, require_file, require_split_file
from medadapt.prompts.tasks.registry import TaskSpec
from medadapt.prompts.tasks.row_reading import field, read_csv_rows, read_json, read_jsonl, text_field
from medadapt.prompts.tasks.study_splits import hf_train_test_split, study_three_way_split
from medadapt.prompts.tasks.task_data import DataFormatError, FilterCounter, TaskData, refuse_duplicate_ids

# MedMCQA options the study rewrote by hand (`clean_option`); only the fixes our description
# of the study quotes are known here.
MEDMCQA_OPTION_FIXES: dict[str, str] = {
    "c)\tCannot be separated by probe": "Cannot be separated by probe",
    "A. ii) B. ii) C. i) D. i) E. i)": "A: (ii), B: (ii), C: (i), D: (i), E: (i)",
}
MEDNLI_OPTIONS: tuple[str, ...] = ("entailment", "contradiction", "neutral")
PUBMEDQA_OPTIONS: tuple[str, ...] = ("yes", "no", "maybe")


def _letter(options: tuple[str, ...], answer_text: str, path: Path | str, line: int | None, name: str) -> str:
    try:
        return chr(ord("A") + options.index(answer_text))
    except ValueError:
        raise DataFormatError(
            path, line, name, f"{answer_text!r} is not one of the options {list(options)!r}"
        ) from None


# --- MedQA --------------------------------------------------------------------------------------------------
def medqa_example(
    spec: TaskSpec, split: str, row: Mapping[str, Any], path: Path | str, line: int
) -> QAExample:
    """One MedQA row (original jsonl: options is {letter: text}); the gold follows the study's rule."""
    question = text_field(row, "question", path, line)
    raw_options = field(row, "options", path, line, (dict, list))
    if isinstance(raw_options, list):  # bigbio source schema: [{"key": "A", "value": "..."}]
        try:
            pairs = [(str(o["key"]), str(o["value"])) for o in raw_options]
        except (KeyError, TypeError):
            raise DataFormatError(path, line, "options", "expected a list of {key, value} objects") from None
    else:
        pairs = [(str(k), str(v)) for k, v in raw_options.items()]
    keys = [k for k, _ in pairs]
    if spec.n_options is not None and len(pairs) != spec.n_options:
        raise DataFormatError(
            path, line, "options", f"expected {spec.n_options} options, got {len(pairs)} ({keys})"
        )
    options = tuple(v for _, v in pairs)
    answer_idx = field(row, "answer_idx", path, line, str)
    answer = row.get("answer")
    # Study rule: the answer text when it is among the options, else the option whose key is answer_idx.
    if isinstance(answer, str) and answer in options:
        letter = chr(ord("A") + options.index(answer))
    elif answer_idx in keys:
        letter = chr(ord("A") + keys.index(answer_idx))
    else:
        raise DataFormatError(path, line, "answer_idx", f"{answer_idx!r} is not an option key {keys}")
    return QAExample(
        id=f"{spec.name}-{split}-{line}",
        task=spec.name,
        split=split,
        question=question,
        options=options,
        answer=letter,
    )


def load_medqa(spec: TaskSpec, folder: Path, split: str, study_compat: bool) -> TaskData:
    """MedQA US (jind11/MedQA `data_clean/questions/US`): 5 options `{split}.jsonl`, 4 options `phrases_no_exclude_*`."""
    source_split = {"train": "train", "val": "dev", "test": "test"}[split]
    if spec.subset == "4_options":
        path = require_split_file(
            folder, [f"phrases_no_exclude_{source_split}.jsonl"], f"{spec.name} {split}"
        )
    else:
        path = require_split_file(
            folder,
            [f"{source_split}.jsonl"],
            f"{spec.name} {split}",
            accept=lambda p: "4_options" not in p.parts,
        )
    examples = [medqa_example(spec, split, row, path, line) for line, row in read_jsonl(path)]
    return TaskData(spec.name, split, examples, {}, len(examples), (str(path),))


# --- MedMCQA ------------------------------------------------------------------------------------------------
def medmcqa_example(
    spec: TaskSpec, split: str, row: Mapping[str, Any], path: Path | str, line: int, *, one_based: bool
) -> QAExample:
    """One MedMCQA row; `cop` is 1-based in the original release and 0-based on the HF hub."""
    question = text_field(row, "question", path, line)
    options = tuple(
        MEDMCQA_OPTION_FIXES.get(o, o)
        for o in (field(row, k, path, line, str) for k in ("opa", "opb", "opc", "opd"))
    )
    cop = field(row, "cop", path, line, int)
    index = cop - 1 if one_based else cop
    if not 0 <= index < 4:
        expected = "1..4" if one_based else "0..3"
        raise DataFormatError(path, line, "cop", f"expected {expected}, got {cop}")
    row_id = str(row.get("id") or f"{split}-{line}")
    return QAExample(
        id=row_id,
        task=spec.name,
        split=split,
        question=question,
        options=options,
        answer=chr(ord("A") + index),
        group=row.get("subject_name"),
    )


def load_medmcqa(spec: TaskSpec, folder: Path, split: str, study_compat: bool) -> TaskData:
    """MedMCQA release: test = official `dev.json`; train/val = 80/20 of `train.json` (HF split, seed 42)."""
    name = "dev.json" if split == "test" else "train.json"
    path = require_split_file(folder, [name], f"{spec.name} {split}")
    rows = list(read_jsonl(path))
    examples = [medmcqa_example(spec, split, row, path, line, one_based=True) for line, row in rows]
    refuse_duplicate_ids(path, ((line, e.id) for (line, _), e in zip(rows, examples, strict=True)))
    n_read = len(examples)
    if split != "test":
        train_idx, val_idx = hf_train_test_split(len(examples), test_size=0.2, seed=42)
        examples = [examples[i] for i in (train_idx if split == "train" else val_idx)]
        n_read = len(examples)
    return TaskData(spec.name, split, examples, {}, n_read, (str(path),))


# --- PubMedQA -----------------------------------------------------------------------------------------------
def pubmedqa_example(
    spec: TaskSpec, split: str, pmid: str, record: Mapping[str, Any], path: Path | str
) -> QAExample:
    """One PubMedQA record of `ori_pqal.json` / `ori_pqaa.json` (context = the abstract without its conclusion)."""
    where = f"record {pmid}"
    if not isinstance(record, Mapping):
        raise DataFormatError(path, None, where, "is not a JSON object")
    question = field(record, "QUESTION", path, None, str).strip()
    contexts = field(record, "CONTEXTS", path, None, list)
    if not all(isinstance(c, str) for c in contexts):
        raise DataFormatError(path, None, f"{where}.CONTEXTS", "expected a list of strings")
    decision = field(record, "final_decision", path, None, str)
    if decision not in PUBMEDQA_OPTIONS:
        raise DataFormatError(
            path, None, f"{where}.final_decision", f"expected yes/no/maybe, got {decision!r}"
        )
    return QAExample(
        id=pmid,
        task=spec.name,
        split=split,
        question=question,
        options=PUBMEDQA_OPTIONS,
        answer=chr(ord("A") + PUBMEDQA_OPTIONS.index(decision)),
        context=" ".join(c.strip() for c in contexts).strip(),
    )


def load_pubmedqa(spec: TaskSpec, folder: Path, split: str, study_compat: bool) -> TaskData:
    """PubMedQA: test = the official 500 ids; val = the other 500 PQA-L; train = PQA-A (`ori_pqaa.json`)."""
    if split == "train":
        path = require_split_file(folder, ["ori_pqaa.json"], "pubmedqa train (PQA-A, artificial)")
        records = read_json(path)
        examples = [pubmedqa_example(spec, split, str(k), v, path) for k, v in records.items()]
        return TaskData(spec.name, split, examples, {}, len(examples), (str(path),))
    path = require_split_file(folder, ["ori_pqal.json"], f"pubmedqa {split}")
    truth_path = require_file(folder, ["test_ground_truth.json"], "pubmedqa test ids")
    records = read_json(path)
    truth = read_json(truth_path)
    if not isinstance(records, dict) or not isinstance(truth, dict):
        raise DataFormatError(path, None, None, "expected JSON objects keyed by PMID")
    missing = sorted(set(truth) - set(records))
    if missing:
        raise DataFormatError(truth_path, None, missing[0], "PMID of the test list is not in ori_pqal.json")
    keys = [k for k in records if (k in truth) == (split == "test")]
    examples = [pubmedqa_example(spec, split, k, records[k], path) for k in keys]
    for example in examples:
        if split == "test" and example.answer_text != truth[example.id]:
            raise DataFormatError(
                truth_path,
                None,
                example.id,
                f"label {truth[example.id]!r} disagrees with ori_pqal.json ({example.answer_text!r})",
            )
    return TaskData(spec.name, split, examples, {}, len(examples), (str(path), str(truth_path)))


# --- MMLU ---------------------------------------------------------------------------------------------------
def load_mmlu(spec: TaskSpec, folder: Path, split: str, study_compat: bool) -> TaskData:
    """MMLU release CSVs (no header: question, A, B, C, D, answer letter); the study's train is `dev` (5 rows)."""
    assert spec.subset is not None
    subject = spec.subset.replace("-", "_")
    source_split = {"train": "dev", "val": "val", "test": "test"}[split]
    path = require_split_file(folder, [f"{subject}_{source_split}.csv"], f"{spec.name} {split}")
    examples: list[QAExample] = []
    for line, record in read_csv_rows(path, header=False):
        assert isinstance(record, list)
        if len(record) != 6:
            raise DataFormatError(
                path, line, None, f"expected 6 columns (question, A-D, answer), got {len(record)}"
            )
        question, *options, answer = record
        if answer not in ("A", "B", "C", "D"):
            raise DataFormatError(path, line, "answer (column 6)", f"expected a letter A-D, got {answer!r}")
        if not question.strip():
            raise DataFormatError(path, line, "question (column 1)", "is empty")
        examples.append(
            QAExample(
                id=f"{subject}-{source_split}-{len(examples)}",
                task=spec.name,
                split=split,
                question=question.strip(),
                options=tuple(options),
                answer=answer,
            )
        )
    return TaskData(spec.name, split, examples, {}, len(examples), (str(path),))


# --- MedNLI -------------------------------------------------------------------------------------------------
def mednli_example(
    spec: TaskSpec, split: str, row: Mapping[str, Any], path: Path | str, line: int
) -> QAExample:
    """One MedNLI pair, phrased as the study's premise/hypothesis question."""
    premise = text_field(row, "sentence1", path, line)
    hypothesis = text_field(row, "sentence2", path, line)
    label = field(row, "gold_label", path, line, str)
    question = f'Premise: "{premise}"\nHypothesis: "{hypothesis}".'
    return QAExample(
        id=str(row.get("pairID") or f"{split}-{line}"),
        task=spec.name,
        split=split,
        question=question,
        options=MEDNLI_OPTIONS,
        answer=_letter(MEDNLI_OPTIONS, label, path, line, "gold_label"),
    )


def load_mednli(spec: TaskSpec, folder: Path, split: str, study_compat: bool) -> TaskData:
    """MedNLI (PhysioNet) `mli_{train,dev,test}_v1.jsonl`; `dev` is the validation split."""
    source_split = {"train": "train", "val": "dev", "test": "test"}[split]
    path = require_split_file(folder, [f"mli_{source_split}_v1.jsonl"], f"mednli {split}")
    rows = list(read_jsonl(path))
    examples = [mednli_example(spec, split, row, path, line) for line, row in rows]
    refuse_duplicate_ids(path, ((line, e.id) for (line, _), e in zip(rows, examples, strict=True)), "pairID")
    return TaskData(spec.name, split, examples, {}, len(examples), (str(path),))


# --- EHRNoteQA ----------------------------------------------------------------------------------------------
EHRNOTEQA_LEVELS: tuple[str, ...] = ("level1",)


def ehrnoteqa_example(spec: TaskSpec, row: Mapping[str, Any], path: Path | str, line: int) -> QAExample:
    """One EHRNoteQA row: notes note_1..note_3 as context, choices choice_A..choice_E, gold letter `answer`."""
    notes = [
        row[k].strip()
        for k in ("note_1", "note_2", "note_3")
        if isinstance(row.get(k), str) and row[k].strip()
    ]
    if not notes:
        raise DataFormatError(path, line, "note_1", "no non-empty note_1..note_3")
    question = text_field(row, "question", path, line)
    options = tuple(field(row, f"choice_{k}", path, line, str) for k in "ABCDE")
    answer = field(row, "answer", path, line, str).strip()
    if answer not in "ABCDE" or len(answer) != 1:
        raise DataFormatError(path, line, "answer", f"expected a letter A-E, got {answer!r}")
    return QAExample(
        id=str(row.get("patient_id", f"row-{line}")) + f"-{line}",
        task=spec.name,
        split="",
        question=question,
        options=options,
        answer=answer,
        context="\n\n".join(notes),
        group=str(row.get("patient_id")) if row.get("patient_id") is not None else None,
    )


def load_ehrnoteqa(spec: TaskSpec, folder: Path, split: str, study_compat: bool) -> TaskData:
    """EHRNoteQA processed jsonl; keeps `level1` notes (≤3000 tokens) and splits 60/20/20 as the study."""
    path = require_file(folder, ["EHRNoteQA_processed.jsonl", "EHRNoteQA.jsonl"], "ehrnoteqa")
    drops = FilterCounter()
    kept: list[QAExample] = []
    n_read = 0
    for line, row in read_jsonl(path):
        n_read += 1
        category = field(row, "category", path, line, str)
        if category not in EHRNOTEQA_LEVELS:
            drops.drop(f"category {category} (study keeps {', '.join(EHRNOTEQA_LEVELS)})")
            continue
        kept.append(ehrnoteqa_example(spec, row, path, line))
    indices = study_three_way_split(len(kept))[split]
    examples = [_with_split(kept[i], split) for i in indices]
    return TaskData(spec.name, split, examples, drops.as_dict(), n_read, (str(path),))


def _with_split(example: QAExample, split: str) -> QAExample:
    import dataclasses

    return dataclasses.replace(example, split=split)


def has_original_files(spec: TaskSpec, folder: Path) -> bool:
    """Whether `folder` holds the task's original-distribution files (used by layout='auto')."""
    names = {
        "medqa": ["phrases_no_exclude_test.jsonl", "phrases_no_exclude_train.jsonl"]
        if spec.subset == "4_options"
        else ["test.jsonl", "train.jsonl", "dev.jsonl"],
        "medmcqa": ["dev.json", "train.json"],
        "pubmedqa": ["ori_pqal.json", "ori_pqaa.json"],
        "mmlu": [f"{(spec.subset or '').replace('-', '_')}_{s}.csv" for s in ("dev", "val", "test")],
        "mednli": ["mli_train_v1.jsonl", "mli_dev_v1.jsonl", "mli_test_v1.jsonl"],
        "ehrnoteqa": ["EHRNoteQA_processed.jsonl", "EHRNoteQA.jsonl"],
    }.get(spec.family, [])
    accept = (lambda p: "4_options" not in p.parts) if spec.name == "medqa" else None
    return find_file(folder, names, accept=accept) is not None
