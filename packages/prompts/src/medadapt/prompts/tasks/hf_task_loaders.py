"""Tasks from Hugging Face layouts (the study's hub datasets or its `save_to_disk` folders), read offline."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from medadapt.prompts.example import QAExample
from medadapt.prompts.tasks.closed_vqa_options import YES_NO, normalise_answer
from medadapt.prompts.tasks.file_lookup import require_file
from medadapt.prompts.tasks.hf_layout import read_hf_split
from medadapt.prompts.tasks.image_files import image_to_path
from medadapt.prompts.tasks.mmmu_loaders import load_mmmu
from medadapt.prompts.tasks.n2c2_loaders import n2c2_examples, split_train_val
from medadapt.prompts.tasks.registry import TaskSpec
from medadapt.prompts.tasks.row_reading import text_field
from medadapt.prompts.tasks.sense_loaders import read_sense_map, sense_examples
from medadapt.prompts.tasks.study_splits import hf_train_test_split, sklearn_split
from medadapt.prompts.tasks.task_data import DataFormatError, FilterCounter, TaskData, refuse_duplicate_ids
from medadapt.prompts.tasks.text_loaders import PUBMEDQA_OPTIONS, medmcqa_example, medqa_example


def _subset_dir(folder: Path, name: str) -> Path:
    return folder / name if (folder / name).is_dir() else folder


def load_hf_task(spec: TaskSpec, folder: Path, split: str, study_compat: bool) -> TaskData:
    """Dispatch on the task family; splits follow docs/protocol.md#datasets-and-tasks."""
    family = spec.family
    if family == "mmmu":
        return load_mmmu(spec, folder, split, study_compat)
    if family == "medqa":
        rows, source = read_hf_split(folder, {"train": "train", "val": "validation", "test": "test"}[split])
        examples = [medqa_example(spec, split, r, source, n) for n, r in enumerate(rows, start=1)]
        return TaskData(spec.name, split, examples, {}, len(rows), (source,), "hf")
    if family == "medmcqa":
        rows, source = read_hf_split(folder, "validation" if split == "test" else "train")
        examples = [
            medmcqa_example(spec, split, r, source, n, one_based=False) for n, r in enumerate(rows, start=1)
        ]
        refuse_duplicate_ids(source, enumerate((e.id for e in examples), start=1))
        if split != "test":
            train_idx, val_idx = hf_train_test_split(len(examples), test_size=0.2, seed=42)
            examples = [examples[i] for i in (train_idx if split == "train" else val_idx)]
        return TaskData(spec.name, split, examples, {}, len(rows), (source,), "hf")
    if family == "mmlu":
        base = _subset_dir(folder, (spec.subset or "").replace("-", "_"))
        rows, source = read_hf_split(base, {"train": "train", "val": "validation", "test": "test"}[split])
        examples = []
        for n, row in enumerate(rows, start=1):
            options = tuple(str(row.get(k, "")) for k in "ABCD")
            target = row.get("target")
            if target not in ("A", "B", "C", "D"):
                raise DataFormatError(source, n, "target", f"expected a letter A-D, got {target!r}")
            examples.append(
                QAExample(
                    id=f"{spec.subset}-{split}-{n}",
                    task=spec.name,
                    split=split,
                    question=text_field(row, "input", source, n),
                    options=options,
                    answer=target,
                )
            )
        return TaskData(spec.name, split, examples, {}, len(rows), (source,), "hf")
    if family == "pubmedqa":
        return _pubmedqa(spec, folder, split)
    if family == "sense":
        sense_map = read_sense_map(require_file(folder, ["sf_lf_map.json"], f"{spec.name} sense inventory"))
        rows, source = read_hf_split(folder, split)
        examples = sense_examples(spec, split, rows, sense_map, study_compat=study_compat, source=source)
        return TaskData(spec.name, split, examples, {}, len(rows), (source,), "hf")
    if family == "n2c2":
        rows, source = read_hf_split(folder, "test" if split == "test" else "train")
        n_read = len(rows)
        if split != "test":
            rows = split_train_val(rows, split)
        return TaskData(
            spec.name, split, n2c2_examples(spec, split, rows, source), {}, n_read, (source,), "hf"
        )
    if family in ("vqa-rad", "pathvqa", "slake"):
        return _closed_vqa(spec, folder, split, study_compat)
    raise FileNotFoundError(f"{spec.name}: no Hugging Face layout reader (use the original files)")


def _pubmedqa(spec: TaskSpec, folder: Path, split: str) -> TaskData:
    """bigbio `pubmed_qa` (bigbio_qa schema): val = labeled fold0 train+validation, test = its test; train = artificial."""
    if split == "train":
        base = _subset_dir(folder, "artificial")
        parts = ["train", "validation"]
    else:
        base = _subset_dir(folder, "labeled_fold0")
        parts = ["train", "validation"] if split == "val" else ["test"]
    examples: list[QAExample] = []
    sources = []
    n_read = 0
    for part in parts:
        rows, source = read_hf_split(base, part)
        sources.append(source)
        for n, row in enumerate(rows, start=1):
            n_read += 1
            answer = row.get("answer")
            answer = answer[0] if isinstance(answer, list) and answer else answer
            if answer not in PUBMEDQA_OPTIONS:
                raise DataFormatError(source, n, "answer", f"expected yes/no/maybe, got {answer!r}")
            examples.append(
                QAExample(
                    id=str(row.get("id", n)),
                    task=spec.name,
                    split=split,
                    question=text_field(row, "question", source, n),
                    options=PUBMEDQA_OPTIONS,
                    answer=chr(ord("A") + PUBMEDQA_OPTIONS.index(answer)),
                    context=text_field(row, "context", source, n),
                )
            )
    return TaskData(spec.name, split, examples, {}, n_read, tuple(sources), "hf")


def _closed_vqa(spec: TaskSpec, folder: Path, split: str, study_compat: bool) -> TaskData:
    """Hub VQA layouts (image, question, answer): closed = yes/no answers; VQA-RAD val carved from train."""
    hf_split = {"train": "train", "val": "validation", "test": "test"}[split]
    carve_val = spec.family == "vqa-rad"
    rows, source = read_hf_split(folder, "train" if carve_val and split == "val" else hf_split)
    drops = FilterCounter()
    examples = []
    for n, row in enumerate(rows, start=1):
        answer = normalise_answer(row.get("answer", ""))
        if answer not in YES_NO:
            drops.drop("open-ended or not yes/no")
            continue
        image = row.get("image") if row.get("image") is not None else row.get("img_name")
        if image is None:
            raise DataFormatError(source, n, "image", "is missing")
        path = image_to_path(image, base_dir=folder)
        examples.append(
            QAExample(
                id=str(row.get("id", row.get("qid", n))),
                task=spec.name,
                split=split,
                question=text_field(row, "question", source, n),
                options=YES_NO,
                answer="A" if answer == "yes" else "B",
                images=(path,),
                group=path,
            )
        )
    if carve_val:
        if study_compat:
            _, val_idx = sklearn_split(range(len(examples)), test_size=0.2, random_state=42)
            if split == "val":
                examples = [examples[i] for i in val_idx]
        elif split in ("train", "val"):
            images = sorted({e.group or "" for e in examples})
            _, val_image_idx = sklearn_split(range(len(images)), test_size=0.2, random_state=42)
            val_images = {images[i] for i in val_image_idx}
            examples = [e for e in examples if (e.group in val_images) == (split == "val")]
    examples = [dataclasses.replace(e, split=split) for e in examples]
    return TaskData(spec.name, split, examples, drops.as_dict(), len(rows), (source,), "hf")
