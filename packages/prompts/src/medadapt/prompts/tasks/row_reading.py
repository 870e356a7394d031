"""Reading dataset files row by row with their line numbers, and typed field access with precise errors."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from medadapt.prompts.tasks.task_data import DataFormatError


def read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for every non-blank line of a JSON Lines file."""
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataFormatError(path, number, None, f"invalid JSON: {err.msg}") from None
            if not isinstance(row, dict):
                raise DataFormatError(path, number, None, f"expected a JSON object, got {type(row).__name__}")
            yield number, row


def read_json(path: Path) -> Any:
    """A whole JSON document."""
    try:
        with path.open(encoding="utf-8") as handle:
            return json.load(handle)
    except json.JSONDecodeError as err:
        raise DataFormatError(path, err.lineno, None, f"invalid JSON: {err.msg}") from None


def read_json_array(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(1-based item index, object) for a file holding a JSON array of objects (SLAKE, VQA-RAD)."""
    data = read_json(path)
    if not isinstance(data, list):
        raise DataFormatError(path, None, None, f"expected a JSON array, got {type(data).__name__}")
    for index, row in enumerate(data, start=1):
        if not isinstance(row, dict):
            raise DataFormatError(path, index, None, f"item {index} is not a JSON object")
        yield index, row


def read_csv_rows(path: Path, *, header: bool) -> Iterator[tuple[int, list[str] | dict[str, str]]]:
    """(line number where the record starts, fields) for an RFC-4180 CSV file (fields may hold newlines)."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader: Any = csv.DictReader(handle) if header else csv.reader(handle)
        start = 1 if not header else 2
        for record in reader:
            yield start, record
            start = reader.line_num + 1


def field(
    row: Mapping[str, Any], name: str, path: Path | str, line: int | None, kind: type | tuple[type, ...] = str
) -> Any:
    """`row[name]` checked to exist and to have type `kind`."""
    if name not in row:
        raise DataFormatError(path, line, name, "is missing")
    value = row[name]
    if not isinstance(value, kind):
        expected = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise DataFormatError(
            path, line, name, f"expected {expected}, got {type(value).__name__} {value!r:.80}"
        )
    return value


def text_field(row: Mapping[str, Any], name: str, path: Path | str, line: int | None) -> str:
    """A required non-empty string field, stripped."""
    value = field(row, name, path, line, str)
    if not value.strip():
        raise DataFormatError(path, line, name, "is empty")
    return value.strip()
