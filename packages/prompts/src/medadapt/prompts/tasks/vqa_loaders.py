"""Loaders for the closed-ended VQA tasks' original files: VQA-RAD, SLAKE, PathVQA
(docs/protocol.md#datasets-and-tasks)."""

from __future__ import annotations

import dataclasses
import pickle
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from medadapt.prompts.example import QAExample
from medadapt.prompts.tasks.closed_vqa_options import (
    SLAKE_STUDY_RULES,
    YES_NO,
    closed_options,
    normalise_answer,
)
from medadapt.prompts.tasks.file_lookup import find_file, require_split_file
from medadapt.prompts.tasks.registry import TaskSpec
from medadapt.prompts.tasks.row_reading import field, read_json_array, read_jsonl, text_field
from medadapt.prompts.tasks.study_splits import sklearn_split
from medadapt.prompts.tasks.task_data import DataFormatError, FilterCounter, TaskData


@dataclasses.dataclass(frozen=True)
class _ClosedRow:
    key: tuple[str, str, str]  # (image, question, answer) after normalisation
    example: QAExample


def _option_example(
    spec: TaskSpec,
    split: str,
    row_id: str,
    question: str,
    answer: str,
    image: Path,
    drops: FilterCounter,
    *,
    study_compat: bool,
    rules: dict[str, tuple[str, ...]] | None,
    compat_yes_no_only: bool = False,
) -> QAExample | None:
    if compat_yes_no_only and study_compat and answer not in YES_NO:
        drops.drop("not yes/no (the study fixed these options by hand, unrecorded)")
        return None
    options = closed_options(question, answer, study_compat=study_compat, rules=rules)
    if not options:
        drops.drop("no options found in the question")
        return None
    if answer not in options:
        drops.drop("answer not among the options")
        return None
    return QAExample(
        id=row_id,
        task=spec.name,
        split=split,
        question=question,
        options=tuple(options),
        answer=chr(ord("A") + options.index(answer)),
        images=(str(image),),
        group=image.name,
    )


# --- VQA-RAD ------------------------------------------------------------------------------------------------
def _vqa_rad_question(question: str) -> str:
    return re.sub(" +", " ", question.lower()).replace(" ?", "?").strip().capitalize()


def _vqa_rad_split_rows(
    spec: TaskSpec, folder: Path, source_split: str, study_compat: bool, drops: FilterCounter
) -> tuple[list[_ClosedRow], int, tuple[str, ...]]:
    """Closed, de-duplicated rows of VQA-RAD's train or test part, from the public json or the MEVF split files."""
    public = find_file(folder, ["VQA_RAD Dataset Public.json"])
    if public is not None:
        path = public
        wanted = {"train": {"freeform", "para"}, "test": {"test_freeform", "test_para"}}[source_split]
        other = {"train": {"test_freeform", "test_para"}, "test": {"freeform", "para", "frame"}}[source_split]
    else:
        path = require_split_file(folder, [f"{source_split}set.json"], f"vqa-rad {source_split}")
        wanted = {"freeform", "para", "test_freeform", "test_para"}
        other = set()
    image_dir = next(
        (d for d in (folder / "images", folder / "VQA_RAD Image Folder") if d.is_dir()), folder / "images"
    )
    rows: list[_ClosedRow] = []
    seen: set[tuple[str, str, str]] = set()
    n_read = 0
    for line, row in read_json_array(path):
        phrase_type = field(row, "phrase_type", path, line, str)
        if phrase_type in other:
            continue  # the other split's rows of the combined public file
        n_read += 1
        if phrase_type not in wanted:
            drops.drop(f"phrase_type {phrase_type} (template-generated, the study keeps freeform/para)")
            continue
        if field(row, "answer_type", path, line, str).strip() != "CLOSED":
            drops.drop("open-ended")
            continue
        image = text_field(row, "image_name", path, line)
        question = _vqa_rad_question(text_field(row, "question", path, line))
        answer = normalise_answer(field(row, "answer", path, line, (str, int, float)))
        key = (image, question, answer)
        if key in seen:
            drops.drop("duplicate (image, question, answer)")
            continue
        seen.add(key)
        example = _option_example(
            spec,
            source_split,
            str(row.get("qid", line)),
            question,
            answer,
            image_dir / image,
            drops,
            study_compat=study_compat,
            rules=None,
            compat_yes_no_only=True,
        )
        if example is not None:
            rows.append(_ClosedRow(key, example))
    return rows, n_read, (str(path),)


def load_vqa_rad(spec: TaskSpec, folder: Path, split: str, study_compat: bool) -> TaskData:
    """VQA-RAD closed questions; val is carved from train (disjoint by image; the study's overlapping way on switch)."""
    drops = FilterCounter()
    if split == "test":
        rows, n_read, sources = _vqa_rad_split_rows(spec, folder, "test", study_compat, drops)
        return TaskData(spec.name, split, [r.example for r in rows], drops.as_dict(), n_read, sources)
    test_rows, _, _ = _vqa_rad_split_rows(spec, folder, "test", study_compat, FilterCounter())
    test_keys = {r.key for r in test_rows}
    rows, n_read, sources = _vqa_rad_split_rows(spec, folder, "train", study_compat, drops)
    kept = []
    for row in rows:
        if row.key in test_keys:
            drops.drop("also in test")
        else:
            kept.append(row.example)
    if study_compat:
        # The study: val = a random 20 % of train, while train stays whole (they overlap; bug 12,
        # docs/protocol.md#defects-of-the-original-by-number).
        _, val_idx = sklearn_split(range(len(kept)), test_size=0.2, random_state=42)
        chosen = kept if split == "train" else [kept[i] for i in val_idx]
    else:
        images = sorted({e.group or "" for e in kept})
        _, val_image_idx = sklearn_split(range(len(images)), test_size=0.2, random_state=42)
        val_images = {images[i] for i in val_image_idx}
        chosen = [e for e in kept if (e.group in val_images) == (split == "val")]
    examples = [dataclasses.replace(e, split=split) for e in chosen]
    return TaskData(spec.name, split, examples, drops.as_dict(), n_read, sources)


# --- SLAKE --------------------------------------------------------------------------------------------------
def load_slake(spec: TaskSpec, folder: Path, split: str, study_compat: bool) -> TaskData:
    """SLAKE 1.0 json: English closed questions; options from yes/no, the study's rules, or the question."""
    name = {"train": "train.json", "val": "validate.json", "test": "test.json"}[split]
    path = require_split_file(folder, [name], f"slake {split}")
    image_dir = folder / "imgs"
    drops = FilterCounter()
    examples: list[QAExample] = []
    n_read = 0
    for line, row in read_json_array(path):
        n_read += 1
        if field(row, "q_lang", path, line, str) != "en":
            drops.drop("not English")
            continue
        if field(row, "answer_type", path, line, str).strip() != "CLOSED":
            drops.drop("open-ended")
            continue
        question = text_field(row, "question", path, line)
        answer = normalise_answer(field(row, "answer", path, line, str))
        example = _option_example(
            spec,
            split,
            str(row.get("qid", line)),
            question,
            answer,
            image_dir / text_field(row, "img_name", path, line),
            drops,
            study_compat=study_compat,
            rules=SLAKE_STUDY_RULES,
        )
        if example is not None:
            examples.append(example)
    return TaskData(spec.name, split, examples, drops.as_dict(), n_read, (str(path),))


# --- PathVQA ------------------------------------------------------------------------------------------------
class _PlainDataUnpickler(pickle.Unpickler):
    """Reads pickles made only of lists, dicts, strings and numbers; any class or function reference is refused."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: PathVQA files hold plain data only")


def read_plain_pickle(path: Path) -> Any:
    """The PathVQA release's `*_qa.pkl` (plain data), without executing any code it might reference."""
    with path.open("rb") as handle:
        try:
            return _PlainDataUnpickler(handle).load()
        except pickle.UnpicklingError as err:
            raise DataFormatError(path, None, None, str(err)) from None


def _llava_rows(path: Path) -> Iterable[tuple[int, dict[str, Any]]]:
    """Rows of the study's processed LLaVA jsonl, as {id, image, question, answer, options}."""
    for line, row in read_jsonl(path):
        turns = field(row, "conversations", path, line, list)
        if len(turns) < 2 or not all(
            isinstance(t, Mapping) and isinstance(t.get("value"), str) for t in turns[:2]
        ):
            raise DataFormatError(
                path, line, "conversations", "expected [{from: human, value}, {from: gpt, value}]"
            )
        question = turns[0]["value"].replace("<image>", "").strip()
        yield (
            line,
            {
                "id": row.get("id", line),
                "image": field(row, "image", path, line, str),
                "question": question,
                "answer": turns[1]["value"],
                "options": row.get("options"),
            },
        )


def load_pathvqa(spec: TaskSpec, folder: Path, split: str, study_compat: bool) -> TaskData:
    """PathVQA: release pickles `qas/{split}/{split}_qa.pkl` (closed = yes/no answers) or processed `closed/*.jsonl`."""
    drops = FilterCounter()
    examples: list[QAExample] = []
    processed = find_file(folder, [f"{split}.jsonl"], accept=lambda p: p.parent.name == "closed")
    if processed is not None:
        rows: Iterable[tuple[int, Mapping[str, Any]]] = _llava_rows(processed)
        path = processed
    else:
        path = require_split_file(folder, [f"{split}_qa.pkl"], f"pathvqa {split}")
        data = read_plain_pickle(path)
        if not isinstance(data, list):
            raise DataFormatError(path, None, None, f"expected a list of rows, got {type(data).__name__}")
        rows = enumerate(data, start=1)
    # The study joined images/<file>; the release keeps them in images/<split>/ (bug 21,
    # docs/protocol.md#defects-of-the-original-by-number).
    image_dir = folder / "images" if study_compat else folder / "images" / split
    n_read = 0
    for line, row in rows:
        n_read += 1
        if not isinstance(row, Mapping):
            raise DataFormatError(path, line, None, "row is not a mapping")
        answer = normalise_answer(field(row, "answer", path, line, str))
        if answer not in YES_NO:
            drops.drop("open-ended (answer is not yes/no)")
            continue
        image = text_field(row, "image", path, line)
        image = image if image.lower().endswith((".jpg", ".png")) else f"{image}.jpg"
        question = text_field(row, "question", path, line)
        examples.append(
            QAExample(
                id=str(row.get("id", line)),
                task=spec.name,
                split=split,
                question=question,
                options=YES_NO,
                answer="A" if answer == "yes" else "B",
                images=(str(image_dir / image),),
                group=image,
            )
        )
    return TaskData(spec.name, split, examples, drops.as_dict(), n_read, (str(path),))
