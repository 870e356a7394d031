"""MMMU medical subjects (HF `MMMU/MMMU` layout): multiple-choice questions with up to 7 images."""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from medadapt.prompts.example import QAExample
from medadapt.prompts.tasks.hf_layout import read_hf_split
from medadapt.prompts.tasks.image_files import image_to_path
from medadapt.prompts.tasks.registry import TaskSpec
from medadapt.prompts.tasks.study_splits import hf_train_test_split
from medadapt.prompts.tasks.task_data import DataFormatError, FilterCounter, TaskData

_LATEX = re.compile(r"\$\\([^\$]+)\$")


def mmmu_config(subject: str) -> str:
    """HF config name of a subject: 'diagnostics-and-laboratory-medicine' -> 'Diagnostics_and_Laboratory_Medicine'."""
    return subject.replace("-", "_").title().replace("And", "and")


def clean_mmmu_text(text: str) -> str:
    """The study's cleaning: `<image n>` -> `<image>`, `$\\x$` -> ` x `, double spaces collapsed, stripped."""
    text = re.sub(r"<image \d+>", "<image>", text)
    text = _LATEX.sub(r" \1 ", text)
    return re.sub(" +", " ", text).strip()


def mmmu_example(
    spec: TaskSpec,
    split: str,
    row: Mapping[str, Any],
    source: str,
    number: int,
    drops: FilterCounter,
    base_dir: Path,
) -> QAExample | None:
    """One MMMU row; options are parsed as a Python literal (never `eval`), open questions are dropped."""
    if row.get("question_type") == "open":
        drops.drop("open question")
        return None
    question = row.get("question")
    if not isinstance(question, str) or not question.strip():
        raise DataFormatError(source, number, "question", "is missing or empty")
    raw = row.get("options")
    try:
        options = ast.literal_eval(raw) if isinstance(raw, str) else raw
    except (ValueError, SyntaxError):
        raise DataFormatError(source, number, "options", f"not a list literal: {raw!r:.80}") from None
    if not isinstance(options, list) or not options or not all(isinstance(o, str) for o in options):
        raise DataFormatError(
            source, number, "options", f"expected a non-empty list of strings, got {raw!r:.80}"
        )
    answer = row.get("answer")
    if not isinstance(answer, str) or len(answer) != 1 or not 0 <= ord(answer) - ord("A") < len(options):
        raise DataFormatError(
            source, number, "answer", f"expected a letter within the {len(options)} options, got {answer!r}"
        )
    images = tuple(
        image_to_path(row[k], base_dir=base_dir)
        for k in (f"image_{i}" for i in range(1, 8))
        if row.get(k) is not None
    )
    return QAExample(
        id=str(row.get("id", number)),
        task=spec.name,
        split=split,
        question=clean_mmmu_text(question),
        options=tuple(clean_mmmu_text(o) for o in options),
        answer=answer,
        images=images,
        group=str(row.get("id", number)),
    )


def load_mmmu(spec: TaskSpec, folder: Path, split: str, study_compat: bool) -> TaskData:
    """train = `dev` (5); val/test from `validation`: the study's 5-item val on switch, else a half/half split."""
    assert spec.subset is not None
    config_dir = folder / mmmu_config(spec.subset)
    base = config_dir if config_dir.is_dir() else folder
    drops = FilterCounter()
    hf_split = "dev" if split == "train" else "validation"
    rows, source = read_hf_split(base, hf_split)
    examples = [
        e
        for n, r in enumerate(rows, start=1)
        if (e := mmmu_example(spec, split, r, source, n, drops, base)) is not None
    ]
    if split != "train":
        if study_compat:
            # validation.train_test_split(train_size=5, seed=42): val = the 5-item part (bug 12,
            # docs/protocol.md#defects-of-the-original-by-number).
            val_idx, test_idx = hf_train_test_split(len(examples), train_size=5, seed=42)
        else:
            test_idx, val_idx = hf_train_test_split(len(examples), test_size=0.5, seed=42)
        examples = [examples[i] for i in (val_idx if split == "val" else test_idx)]
    return TaskData(spec.name, split, examples, drops.as_dict(), len(rows), (source,), layout="hf")
