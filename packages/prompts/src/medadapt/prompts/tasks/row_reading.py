"""Reading dataset files row by row with their line numbers, and typed field access with precise errors."""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from medadapt.prompts.tasks.task_data import DataFormatError


def read_text(path: Path) -> str:
    """A UTF-8 text file (a leading byte-order mark dropped); a byte that is not UTF-8 is an error naming its line.

    Spreadsheet tools save CSVs with a BOM, which would otherwise end up in the first field; decoding the whole
    file at once lets an undecodable byte (a Latin-1 'é', say) be reported with its line and offset.
    """
    raw = path.read_bytes()
    bom = len(codecs.BOM_UTF8) if raw.startswith(codecs.BOM_UTF8) else 0
    try:
        return raw[bom:].decode("utf-8")
    except UnicodeDecodeError as err:
        offset = bom + err.start
        line = raw.count(b"\n", 0, offset) + 1
        raise DataFormatError(
            path,
            line,
            None,
            f"is not valid UTF-8: byte 0x{raw[offset]:02x} at byte offset {offset} ({err.reason}); "
            "save the file as UTF-8",
        ) from None


def _no_duplicate_keys(path: Path, line: int | None) -> Any:
    """A json `object_pairs_hook` refusing repeated keys (json keeps the last one silently, losing a record)."""

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj: dict[str, Any] = {}
        for key, value in pairs:
            if key in obj:
                raise DataFormatError(path, line, key, "is a duplicate key in one JSON object")
            obj[key] = value
        return obj

    return hook


def read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for every non-blank line of a JSON Lines file."""
    for number, line in enumerate(read_text(path).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line, object_pairs_hook=_no_duplicate_keys(path, number))
        except json.JSONDecodeError as err:
            raise DataFormatError(path, number, None, f"invalid JSON: {err.msg}") from None
        if not isinstance(row, dict):
            raise DataFormatError(path, number, None, f"expected a JSON object, got {type(row).__name__}")
        yield number, row


def read_json(path: Path) -> Any:
    """A whole JSON document (objects with a repeated key are refused)."""
    try:
        return json.loads(read_text(path), object_pairs_hook=_no_duplicate_keys(path, None))
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
    handle = io.StringIO(read_text(path), newline="")
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
