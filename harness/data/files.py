"""Reading local data files into rows: jsonl, json, csv, tsv, parquet, and prediction files.

jsonl is read line by line so a bad line is reported by number; json is a list of objects
or {"data": [...]}; csv and tsv keep every value a string (no type guessing, "NA" stays
"NA"), and tsv is read without quote handling, as GLUE-style files are written; parquet
goes through pyarrow, so nested values come back as Python lists and dicts. Every error
names the file and the line. To add a format, add its suffix to READERS.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

from harness.errors import HarnessError
from harness.records.store import decoded, open_text, read_jsonl

FINGERPRINT_LENGTH = 16  # hex digits of a data fingerprint: 64 bits, ample to tell datasets apart


def _too_deep(path: Path) -> str:
    # Python's json parser recurses once per level: thousands of nested brackets overflow it.
    return f"{path}: a value nests lists or objects deeper than can be read (thousands of levels); flatten it"


def _read_json(path: Path) -> list[dict]:
    with open_text(path) as f:
        try:
            data = json.loads("".join(decoded(f, path)))
        except json.JSONDecodeError as err:
            raise HarnessError(f"{path} line {err.lineno}: not valid JSON ({err.msg}, column {err.colno})") from None
        except RecursionError:
            raise HarnessError(_too_deep(path)) from None
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        data = data["data"]
    if not isinstance(data, list):
        raise HarnessError(f"{path}: expected a list of objects or {{\"data\": [...]}}, got {type(data).__name__}")
    for i, row in enumerate(data, start=1):
        if not isinstance(row, dict):
            raise HarnessError(f"{path} row {i}: a row must be a JSON object, got {type(row).__name__}")
    return data


def _read_table(path: Path, sep: str) -> list[dict]:
    # The csv module rather than pandas: values stay strings with no type guessing, and a
    # row with the wrong number of fields is an error naming its line, not a silent NaN.
    kind = "TSV" if sep == "\t" else "CSV"
    # TSV has no quoting convention (GLUE files hold bare quotes); CSV has RFC 4180 quoting.
    quoting = csv.QUOTE_NONE if sep == "\t" else csv.QUOTE_MINIMAL
    csv.field_size_limit(max(csv.field_size_limit(), 1 << 30))  # long documents in one cell
    rows = []
    with path.open("r", encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(decoded(f, path), delimiter=sep, quoting=quoting)
        try:
            header = next(reader, None)
            if header is None:
                return []
            for i, name in enumerate(header, start=1):
                if not name or name in header[: i - 1]:
                    raise HarnessError(f"{path} line 1: column {i} header {name!r} is empty or repeated; give each column its own name")
            for values in reader:
                if not values:
                    continue  # blank line
                if len(values) != len(header):
                    raise HarnessError(
                        f"{path} line {reader.line_num} (row {len(rows) + 1}): {len(values)} fields, but the header "
                        f"has {len(header)} ({', '.join(header)}); fix the row"
                        + ("" if sep == "\t" else " (quote values that contain commas)")
                    )
                rows.append(dict(zip(header, values)))
        except csv.Error as err:
            raise HarnessError(f"{path} line {reader.line_num}: cannot be read as {kind} ({err})") from None
    return rows


def _read_parquet(path: Path) -> list[dict]:
    import pyarrow
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path).to_pylist()
    except (pyarrow.ArrowException, OSError) as err:  # a damaged file is an OSError ("Couldn't deserialize thrift")
        raise HarnessError(f"{path}: cannot be read as Parquet ({err})") from None


READERS: dict[str, Callable[[Path], list[dict]]] = {
    ".jsonl": read_jsonl,
    ".json": _read_json,
    ".csv": lambda path: _read_table(path, ","),
    ".tsv": lambda path: _read_table(path, "\t"),
    ".parquet": _read_parquet,
}
