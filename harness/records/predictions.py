"""Prediction files: RESULTS/<suite>/<variant_id>/predictions/<eval>.jsonl, one row per
example (prompt, prediction, references, per-example scores), and the one rule that names
an example across variants and runs.

An example's id is its row's "id", else its "index" (files written before ids existed);
a file pairs with another only when every row has an id, every id is a string or an
integer, and no id repeats, since a row without one could be matched with the wrong
example (and a list cannot key it, nor can 1.0 or true, which a dict takes for 1).
Comparisons (harness/analysis), the gate's snapshots, re-scoring and the leaderboard's
example view all read through here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.records.store import inside, read_jsonl, write_jsonl_atomic

FOLDER = "predictions"


def predictions_path(variant_dir: Path, ev: str) -> Path:
    """The eval's file in the variant's folder. The eval's name comes from a record, which
    anyone can edit: one that would lead elsewhere (a path, or a link out of the folder) is
    refused, so reading and re-scoring never touch a file outside the results."""
    path = Path(variant_dir) / FOLDER / f"{ev}.jsonl"
    if not isinstance(ev, str) or not ev or ev.startswith(".") or "/" in ev or "\\" in ev or "\0" in ev \
            or not inside(variant_dir, path):
        raise HarnessError(f"{variant_dir}: eval name {ev!r} does not name a file in its predictions folder; not read")
    return path


def row_id(row: Any) -> Any:
    """The example's id: the row's "id", else its "index"; None when it has neither."""
    return row.get("id", row.get("index")) if isinstance(row, dict) else None


def read_predictions(variant_dir: Path, ev: str) -> list[dict[str, Any]]:
    """Every row of the eval's predictions file; HarnessError naming the file when it is
    missing, unreadable, malformed (by line) or empty."""
    path = predictions_path(variant_dir, ev)
    if not path.is_file():
        raise HarnessError(f"{path}: no such predictions file")
    try:
        rows = read_jsonl(path)
    except OSError as err:
        raise HarnessError(f"{path}: cannot be read ({err})") from None
    if not rows:
        raise HarnessError(f"{path}: no prediction rows; rerun the variant (harness run --force --only NAME)")
    return rows


def keyed(rows: list[dict[str, Any]]) -> dict[Any, dict[str, Any]] | None:
    """{id: row} when every row has a distinct id, else None (the rows cannot be paired)."""
    ids = [row_id(row) for row in rows]
    if not all(isinstance(i, (str, int)) and not isinstance(i, bool) for i in ids):
        return None
    if len({json.dumps(i) for i in ids}) != len(ids):  # 1 and "1" stay apart, as they do in a dict
        return None
    return dict(zip(ids, rows))


def keyed_predictions(variant_dir: Path, ev: str) -> dict[Any, dict[str, Any]] | None:
    """The eval's rows by id, or None when the file is missing, unreadable or unpairable."""
    try:
        return keyed(read_predictions(variant_dir, ev))
    except HarnessError:
        return None


def write_predictions(variant_dir: Path, ev: str, rows: list[dict[str, Any]]) -> Path:
    path = predictions_path(variant_dir, ev)
    write_jsonl_atomic(path, rows)
    return path
