"""n2c2 (i2b2) 2008 Obesity challenge: records + intuitive annotations XML → one yes/no/questionable task per disease."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from medadapt.prompts.example import QAExample
from medadapt.prompts.tasks.registry import TaskSpec
from medadapt.prompts.tasks.study_splits import hf_train_test_split
from medadapt.prompts.tasks.task_data import DataFormatError, FilterCounter, MissingSplitError, TaskData

N2C2_OPTIONS: tuple[str, ...] = ("Yes", "No", "Questionable")
JUDGMENT_TO_OPTION = {"Y": "Yes", "N": "No", "Q": "Questionable"}
DISEASE_NAMES = {"asthma": "Asthma", "cad": "CAD", "diabetes": "Diabetes", "obesity": "Obesity"}
RECORD_FILES = {
    "train": ("obesity_patient_records_training.xml", "obesity_patient_records_training2.xml"),
    "test": ("obesity_patient_records_test.xml",),
}
ANNOTATION_FILES = {
    "train": (
        "obesity_standoff_intuitive_annotations_training.xml",
        "obesity_standoff_annotations_training_intuitive.xml",
        "obesity_standoff_intuitive_annotations_training2.xml",
    ),
    "test": (
        "obesity_standoff_annotations_test_intuitive.xml",
        "obesity_standoff_intuitive_annotations_test.xml",
    ),
}


def _parse(path: Path) -> ET.Element:
    try:
        return ET.parse(path).getroot()
    except ET.ParseError as err:
        raise DataFormatError(path, err.position[0], None, f"invalid XML: {err}") from None


def read_records(paths: Sequence[Path]) -> dict[str, str]:
    """doc id -> raw note text (whitespace kept, as the study) from `<root><docs><doc id><text>` files, merged."""
    notes: dict[str, str] = {}
    for path in paths:
        for doc in _parse(path).iter("doc"):
            doc_id = doc.get("id")
            text = doc.find("text")
            if doc_id is None:
                raise DataFormatError(path, None, "doc@id", "a <doc> has no id")
            if text is None or text.text is None:
                raise DataFormatError(path, None, f"doc {doc_id}/text", "missing note text")
            notes[doc_id] = text.text
    return notes


def read_intuitive_judgments(paths: Sequence[Path], disease: str) -> dict[str, str]:
    """doc id -> Y/N/Q for `disease` from the intuitive annotation files."""
    judgments: dict[str, str] = {}
    for path in paths:
        root = _parse(path)
        for diseases in root.iter("diseases"):
            if diseases.get("source") != "intuitive":
                continue
            for node in diseases.iter("disease"):
                if node.get("name") != disease:
                    continue
                for doc in node.iter("doc"):
                    doc_id, judgment = doc.get("id"), doc.get("judgment")
                    if doc_id is None or judgment not in JUDGMENT_TO_OPTION:
                        raise DataFormatError(
                            path,
                            None,
                            f"{disease}/doc {doc_id}@judgment",
                            f"expected Y, N or Q, got {judgment!r}",
                        )
                    judgments[doc_id] = judgment
    return judgments


def n2c2_question(text: str, disease_key: str) -> str:
    """The study's question: the note, then 'Does this patient have <disease>?' (CAD upper-case)."""
    return f"{text}\n\nDoes this patient have {'CAD' if disease_key == 'cad' else disease_key}?"


def preprocess_obesity(
    records: Sequence[Path],
    annotations: Sequence[Path],
    disease_key: str,
    *,
    token_counter: Callable[[str], int] | None = None,
    max_tokens: int = 3000,
    drops: FilterCounter | None = None,
) -> list[dict[str, Any]]:
    """Rows {id, text, label} of one disease; notes longer than `max_tokens` dropped when a counter is given."""
    disease = DISEASE_NAMES[disease_key]
    notes = read_records(records)
    judgments = read_intuitive_judgments(annotations, disease)
    drops = drops if drops is not None else FilterCounter()
    rows = []
    for doc_id, text in notes.items():
        if doc_id not in judgments:
            drops.drop(f"no intuitive judgment for {disease}")
            continue
        if token_counter is not None and token_counter(text) > max_tokens:
            drops.drop(f"longer than {max_tokens} tokens")
            continue
        rows.append({"id": doc_id, "text": text, "label": judgments[doc_id]})
    return rows


def n2c2_examples(
    spec: TaskSpec, split: str, rows: Sequence[Mapping[str, Any]], source: str
) -> list[QAExample]:
    """QAExamples from preprocessed rows {text, label in Y/N/Q} (ours or the study's saved DatasetDict)."""
    assert spec.subset is not None
    examples = []
    for number, row in enumerate(rows, start=1):
        text, label = row.get("text"), row.get("label")
        if not isinstance(text, str) or not text:
            raise DataFormatError(source, number, "text", "is missing or empty")
        if label not in JUDGMENT_TO_OPTION:
            raise DataFormatError(source, number, "label", f"expected Y, N or Q, got {label!r}")
        option = JUDGMENT_TO_OPTION[label]
        doc_id = str(row.get("id", number))
        examples.append(
            QAExample(
                id=doc_id,
                task=spec.name,
                split=split,
                question=n2c2_question(text, spec.subset),
                options=N2C2_OPTIONS,
                answer=chr(ord("A") + N2C2_OPTIONS.index(option)),
                group=doc_id,
            )
        )
    return examples


def split_train_val(rows: Sequence[Any], split: str) -> list[Any]:
    """The study's train/val: HF `train_test_split(test_size=0.2, seed=42)` of the training notes."""
    train_idx, val_idx = hf_train_test_split(len(rows), test_size=0.2, seed=42)
    return [rows[i] for i in (train_idx if split == "train" else val_idx)]


def load_n2c2(spec: TaskSpec, folder: Path, split: str, study_compat: bool) -> TaskData:
    """From the challenge XML files: test = test notes; train/val = 80/20 of the merged training notes.

    The study also dropped test notes over 3000 Llama-2 tokens; that needs a tokenizer, so it is
    `preprocess_obesity(..., token_counter=...)`'s job and not done here.
    """
    assert spec.subset is not None
    part = "test" if split == "test" else "train"
    records = [folder / n for n in RECORD_FILES[part] if (folder / n).is_file()]
    annotations = [folder / n for n in ANNOTATION_FILES[part] if (folder / n).is_file()]
    if not records or not annotations:
        raise MissingSplitError(
            f"{spec.name} {split}: need {RECORD_FILES[part]} and one of {ANNOTATION_FILES[part]} in {folder}"
        )
    drops = FilterCounter()
    rows = preprocess_obesity(records, annotations, spec.subset, drops=drops)
    n_read = len(rows) + sum(drops.as_dict().values())
    if split != "test":
        rows = split_train_val(rows, split)
    examples = n2c2_examples(spec, split, rows, str(records[0]))
    return TaskData(
        spec.name, split, examples, drops.as_dict(), n_read, tuple(str(p) for p in records + annotations)
    )
