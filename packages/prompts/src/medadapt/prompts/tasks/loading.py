"""`load_task`: one entry point that finds a task's files and picks the original or the Hugging Face layout."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

from medadapt.prompts.tasks.file_lookup import find_file
from medadapt.prompts.tasks.hf_layout import has_hf_layout
from medadapt.prompts.tasks.hf_task_loaders import load_hf_task
from medadapt.prompts.tasks.n2c2_loaders import RECORD_FILES, load_n2c2
from medadapt.prompts.tasks.registry import TaskSpec, get_task
from medadapt.prompts.tasks.sense_loaders import load_sense
from medadapt.prompts.tasks.task_data import TaskData, refuse_duplicate_ids
from medadapt.prompts.tasks.text_loaders import (
    has_original_files,
    load_ehrnoteqa,
    load_medmcqa,
    load_mednli,
    load_medqa,
    load_mmlu,
    load_pubmedqa,
)
from medadapt.prompts.tasks.vqa_loaders import load_pathvqa, load_slake, load_vqa_rad

Layout = Literal["auto", "original", "hf"]
_ORIGINAL: dict[str, Callable[[TaskSpec, Path, str, bool], TaskData]] = {
    "medqa": load_medqa,
    "medmcqa": load_medmcqa,
    "pubmedqa": load_pubmedqa,
    "mmlu": load_mmlu,
    "mednli": load_mednli,
    "ehrnoteqa": load_ehrnoteqa,
    "sense": load_sense,
    "n2c2": load_n2c2,
    "vqa-rad": load_vqa_rad,
    "slake": load_slake,
    "pathvqa": load_pathvqa,
}
_ORIGINAL_MARKERS: dict[str, tuple[str, ...]] = {
    "sense": ("sf_lf_map.json",),
    "n2c2": RECORD_FILES["train"] + RECORD_FILES["test"],
    "vqa-rad": ("trainset.json", "testset.json", "VQA_RAD Dataset Public.json"),
    "slake": ("train.json", "validate.json", "test.json"),
    "pathvqa": ("train_qa.pkl", "test_qa.pkl", "val_qa.pkl", "train.jsonl", "test.jsonl"),
}


def task_folder(spec: TaskSpec, data_dir: Path) -> Path:
    """The task's folder: `data_dir/<folder>` when it exists (a data root), else `data_dir` itself."""
    candidate = data_dir / spec.folder
    return candidate if candidate.is_dir() else data_dir


def _has_original(spec: TaskSpec, folder: Path) -> bool:
    if spec.family in _ORIGINAL_MARKERS:
        return find_file(folder, _ORIGINAL_MARKERS[spec.family]) is not None
    return has_original_files(spec, folder)


def detect_layout(spec: TaskSpec, folder: Path) -> Literal["original", "hf"]:
    """'original' when the release files are there, else 'hf' when a Hugging Face layout is, else an error."""
    if spec.family != "mmmu" and _has_original(spec, folder):
        return "original"
    if has_hf_layout(folder) or any(has_hf_layout(p) for p in folder.iterdir() if p.is_dir()):
        return "hf"
    raise FileNotFoundError(
        f"{spec.name}: neither the original files nor a Hugging Face layout found in {folder}"
    )


def load_task(
    name: str, data_dir: Path | str, split: str, *, layout: Layout = "auto", study_compat: bool = False
) -> TaskData:
    """Examples of one split of a task; `study_compat=True` reproduces the study's flawed splits/options."""
    spec = get_task(name)
    if split not in spec.splits:
        raise ValueError(f"{name}: split must be one of {spec.splits}, got {split!r}")
    data_dir = Path(data_dir)
    if data_dir.exists() and not data_dir.is_dir():
        raise NotADirectoryError(f"{name}: data directory {data_dir} is a file, not a directory")
    if not data_dir.is_dir():
        raise FileNotFoundError(f"{name}: data directory {data_dir} does not exist")
    folder = task_folder(spec, data_dir)
    chosen = detect_layout(spec, folder) if layout == "auto" else layout
    if chosen == "hf":
        data = load_hf_task(spec, folder, split, study_compat)
    elif chosen != "original":
        raise ValueError(f"layout must be 'auto', 'original' or 'hf', got {layout!r}")
    elif spec.family not in _ORIGINAL:
        raise FileNotFoundError(f"{name}: only the Hugging Face layout exists for this task (layout='hf')")
    else:
        data = _ORIGINAL[spec.family](spec, folder, split, study_compat)
    # Loaders that read ids from the data refuse repeats with file and line; this catches any other source.
    refuse_duplicate_ids(", ".join(data.sources) or str(folder), ((None, e.id) for e in data.examples))
    return data
