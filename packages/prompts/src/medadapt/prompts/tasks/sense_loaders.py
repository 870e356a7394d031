"""CASI and MIMIC-III acronym sense disambiguation (docs/protocol.md#datasets-and-tasks): preprocessing and
loading."""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from medadapt.prompts.example import QAExample
from medadapt.prompts.tasks.file_lookup import find_file, require_file
from medadapt.prompts.tasks.registry import TaskSpec
from medadapt.prompts.tasks.row_reading import read_csv_rows, read_json
from medadapt.prompts.tasks.study_splits import study_three_way_split
from medadapt.prompts.tasks.task_data import DataFormatError, FilterCounter, TaskData

MAX_PER_ACRONYM = 500
SENSE_CSV_NAMES = {
    "casi": ("preprocessed_dataset_window_10.csv",),
    "mimic": ("mimic_rs_dataset_preprocessed_window_10.csv",),
}


@dataclasses.dataclass(frozen=True)
class SenseRow:
    """One acronym occurrence: short form, gold sense (as in sf_lf_map), note snippet, and where it came from."""

    sf: str
    sense: str
    context: str
    source: str


def parse_long_form(long_form: str, *, study_compat: bool) -> str:
    """An option's text: ';'-joined variants are lower-cased, de-duplicated and joined with ' / '.

    The study used `list(set(...))`, whose order changes with PYTHONHASHSEED (bug 11,
    docs/protocol.md#defects-of-the-original-by-number); by default the
    first-seen order is kept so that prompts are identical across processes.
    """
    if ";" not in long_form:
        return long_form
    parts = [p.lower() for p in long_form.split(";")]
    unique = list(set(parts)) if study_compat else list(dict.fromkeys(parts))
    return " / ".join(unique)


def sense_question(context: str, sf: str) -> str:
    """The study's question for one snippet."""
    return f'"{context}"\n\nWhat is the correct expansion for the acronym "{sf}" in the above clinical note snippet?'


def read_sense_map(path: Path) -> dict[str, list[str]]:
    """`sf_lf_map.json`: short form -> candidate long forms (the answer options)."""
    data = read_json(path)
    if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
        raise DataFormatError(path, None, None, "expected an object {short form: [long forms]}")
    return {str(k): [str(x) for x in v] for k, v in data.items()}


def _label_index(path: Path | None) -> dict[tuple[str, str], str]:
    """(sf, any lower-cased variant) -> sense string of sf_lf_map, from `labeled_sf_lf_map.csv`."""
    index: dict[tuple[str, str], str] = {}
    if path is None:
        return index
    for line, record in read_csv_rows(path, header=True):
        assert isinstance(record, dict)
        for name in ("sf", "target_lf_sense"):
            if not record.get(name):
                raise DataFormatError(path, line, name, "is missing or empty")
        sense = record["target_lf_sense"]
        variants = sense.split(";") + (record.get("target_label") or "").split(";")
        for variant in variants:
            if variant.strip():
                index.setdefault((record["sf"], variant.strip().lower()), sense)
    return index


UMN_FILE = "AnonymizedClinicalAbbreviationsAndAcronymsDataSet.txt"
UMN_COLUMNS = ("sf", "target_lf", "sf_rep", "start_idx", "end_idx", "section", "context")


def read_umn_records(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """The raw UMN CASI release: pipe-delimited sf|lf|sf_rep|start|end|section|sample, cp1252-encoded."""
    with path.open(encoding="cp1252", newline="") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            fields = line.rstrip("\r\n").split("|")
            if len(fields) != len(UMN_COLUMNS):
                raise DataFormatError(
                    path,
                    number,
                    None,
                    f"expected {len(UMN_COLUMNS)} '|'-separated columns, got {len(fields)}",
                )
            yield number, dict(zip(UMN_COLUMNS, fields, strict=True))


def _sense_records(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    if path.suffix == ".txt":
        yield from read_umn_records(path)
        return
    for line, record in read_csv_rows(path, header=True):
        assert isinstance(record, dict)
        yield line, record


def read_sense_rows(
    paths: Sequence[Path],
    sense_map: Mapping[str, list[str]],
    label_index: Mapping[tuple[str, str], str],
    drops: FilterCounter,
) -> tuple[list[SenseRow], int]:
    """Rows of Adams et al.'s preprocessed CSVs (sf, target_lf or target_lf_sense, context), checked against the map."""
    rows: list[SenseRow] = []
    n_read = 0
    for path in paths:
        for line, record in _sense_records(path):
            n_read += 1
            for name in ("sf", "context"):
                if not record.get(name):
                    raise DataFormatError(path, line, name, "is missing or empty")
            sf = record["sf"]
            if record.get("target_lf_sense"):
                sense: str | None = record["target_lf_sense"]
            elif record.get("target_lf"):
                target = record["target_lf"].strip()
                sense = target if target in sense_map.get(sf, ()) else label_index.get((sf, target.lower()))
            else:
                raise DataFormatError(
                    path, line, "target_lf_sense", "neither target_lf_sense nor target_lf is given"
                )
            if sf not in sense_map:
                drops.drop("acronym not in sf_lf_map.json")
                continue
            if sense is None or sense not in sense_map[sf]:
                drops.drop("gold sense not in the sense inventory (sf_lf_map.json)")
                continue
            rows.append(SenseRow(sf, sense, record["context"], f"{path}:{line}"))
    return rows, n_read


def study_sense_splits(
    rows: Sequence[SenseRow], *, max_per_acronym: int = MAX_PER_ACRONYM
) -> dict[str, list[SenseRow]]:
    """Per acronym: sample ≤500 rows (`sample(n, random_state=42)`), then the 60/20/20 recipe, acronyms sorted."""
    by_sf: dict[str, list[SenseRow]] = {}
    for row in rows:
        by_sf.setdefault(row.sf, []).append(row)
    out: dict[str, list[SenseRow]] = {"train": [], "val": [], "test": []}
    for sf in sorted(by_sf):
        group = by_sf[sf]
        n = min(len(group), max_per_acronym)
        # pandas' DataFrame.sample(n, random_state=42) draws RandomState(42).choice(len, n, replace=False).
        picked = np.random.RandomState(42).choice(len(group), size=n, replace=False)
        sampled = [group[int(i)] for i in picked]
        for split, indices in study_three_way_split(len(sampled)).items():
            out[split].extend(sampled[i] for i in indices)
    return out


def sense_examples(
    spec: TaskSpec,
    split: str,
    rows: Iterable[SenseRow | Mapping[str, Any]],
    sense_map: Mapping[str, list[str]],
    *,
    study_compat: bool,
    source: str,
) -> list[QAExample]:
    """QAExamples from preprocessed rows (dataclasses or HF dicts with sf, target_lf_sense, context)."""
    examples = []
    for number, row in enumerate(rows, start=1):
        sf: object
        sense: object
        context: object
        if isinstance(row, SenseRow):
            sf, sense, context, where = row.sf, row.sense, row.context, row.source
        else:
            sf, sense, context = row.get("sf"), row.get("target_lf_sense"), row.get("context")
            where = f"{source} row {number}"
            for name, value in (("sf", sf), ("target_lf_sense", sense), ("context", context)):
                if not isinstance(value, str) or not value:
                    raise DataFormatError(source, number, name, "is missing or empty")
        assert isinstance(sf, str) and isinstance(sense, str) and isinstance(context, str)
        if sf not in sense_map:
            raise DataFormatError(source, number, "sf", f"{sf!r} is not a key of sf_lf_map.json")
        options = tuple(parse_long_form(lf, study_compat=study_compat) for lf in sense_map[sf])
        answer = parse_long_form(sense, study_compat=study_compat)
        if answer not in options:
            raise DataFormatError(source, number, "target_lf_sense", f"{sense!r} is not an option of {sf!r}")
        examples.append(
            QAExample(
                id=where,
                task=spec.name,
                split=split,
                question=sense_question(context, sf),
                options=options,
                answer=chr(ord("A") + options.index(answer)),
                group=sf,
            )
        )
    return examples


def load_sense(spec: TaskSpec, folder: Path, split: str, study_compat: bool) -> TaskData:
    """CASI / MIMIC-III sense from Adams et al.'s preprocessed CSVs + sf_lf_map.json (+ mimic_sf.yaml filter)."""
    assert spec.subset is not None
    map_path = require_file(folder, ["sf_lf_map.json"], f"{spec.name} sense inventory")
    sense_map = read_sense_map(map_path)
    csv_paths = [p for name in SENSE_CSV_NAMES[spec.subset] if (p := find_file(folder, [name])) is not None]
    if not csv_paths and spec.subset == "casi" and (umn := find_file(folder, [UMN_FILE])) is not None:
        csv_paths = [umn]
    if not csv_paths:  # slices of the same layout (e.g. one acronym's rows)
        csv_paths = sorted(
            p for p in folder.glob("*.csv") if p.name != "labeled_sf_lf_map.csv" and _has_context_column(p)
        )
    if not csv_paths:
        raise FileNotFoundError(
            f"{spec.name}: no preprocessed sense CSV (sf, target_lf, context) under {folder}"
        )
    drops = FilterCounter()
    rows, n_read = read_sense_rows(
        csv_paths, sense_map, _label_index(find_file(folder, ["labeled_sf_lf_map.csv"])), drops
    )
    keep_path = find_file(folder, ["mimic_sf.yaml"])
    if keep_path is not None:
        keep = yaml.safe_load(keep_path.read_text(encoding="utf-8"))
        keep_set = set(keep) if isinstance(keep, list | dict) else set()
        before = len(rows)
        rows = [r for r in rows if r.sf in keep_set]
        drops.drop("acronym not in mimic_sf.yaml", before - len(rows))
    splits = study_sense_splits(rows)
    examples = sense_examples(
        spec, split, splits[split], sense_map, study_compat=study_compat, source=str(map_path)
    )
    return TaskData(spec.name, split, examples, drops.as_dict(), n_read, tuple(str(p) for p in csv_paths))


def _has_context_column(path: Path) -> bool:
    with path.open(encoding="utf-8", newline="") as handle:
        header = next(csv.reader(handle), [])
    return "context" in header and "sf" in header
