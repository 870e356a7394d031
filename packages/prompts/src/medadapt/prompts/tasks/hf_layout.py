"""Reading a task saved in a Hugging Face layout, offline: `save_to_disk` folders or local json/jsonl/parquet/csv."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medadapt.prompts.tasks.task_data import MissingSplitError

_BUILDERS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}


def _split_files(folder: Path, split: str) -> list[Path]:
    patterns = [
        f"{split}.jsonl",
        f"{split}.json",
        f"{split}.parquet",
        f"{split}.csv",
        f"{split}-*.parquet",
        f"data/{split}-*.parquet",
        f"data/{split}.jsonl",
        f"data/{split}.json",
    ]
    for pattern in patterns:
        found = sorted(p for p in folder.glob(pattern) if p.is_file())
        if found:
            return found
    return []


def has_hf_layout(folder: Path) -> bool:
    """Whether `folder` looks like a saved DatasetDict or holds per-split data files."""
    if (folder / "dataset_dict.json").is_file() or (folder / "dataset_info.json").is_file():
        return True
    return any(_split_files(folder, s) for s in ("train", "validation", "val", "test", "dev"))


def hf_split_names(folder: Path) -> list[str]:
    """Split names available in `folder`."""
    if (folder / "dataset_dict.json").is_file():
        import json

        return list(json.loads((folder / "dataset_dict.json").read_text(encoding="utf-8"))["splits"])
    return [s for s in ("train", "validation", "val", "test", "dev") if _split_files(folder, s)]


def read_hf_split(folder: Path, split: str) -> tuple[list[dict[str, Any]], str]:
    """Rows of one split as dicts, and a description of the source; never touches the network."""
    import datasets

    if (folder / "dataset_dict.json").is_file():
        dataset_dict = datasets.load_from_disk(str(folder))
        if split not in dataset_dict:
            raise MissingSplitError(f"{folder}: split {split!r} not saved (have {list(dataset_dict)})")
        return [dict(row) for row in dataset_dict[split]], f"{folder} [{split}]"
    files = _split_files(folder, split)
    if not files:
        raise MissingSplitError(
            f"{folder}: no files for split {split!r} (looked for {split}.jsonl/json/parquet/csv)"
        )
    builder = _BUILDERS[files[0].suffix]
    dataset = datasets.load_dataset(builder, data_files={split: [str(f) for f in files]}, split=split)
    return [dict(row) for row in dataset], ", ".join(str(f) for f in files)
