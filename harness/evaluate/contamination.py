"""Contamination: eval examples that also appear in the training data.

Two examples are taken to be the same when they share a field value of at least
MIN_CHARS characters after whitespace and case normalisation (the same question, review
or record in both, whatever the column names and templates). The count goes into the
record and, on the page, as a warning: a score on seen examples overstates what tuning
achieved. Imports no torch.
"""

from __future__ import annotations

from pathlib import Path

from harness.data import sources
from harness.metrics.text import normalize_text

MIN_CHARS = 16  # shorter values (labels, names, numbers) recur by chance


def _values(row: dict) -> set[str]:
    out = set()
    for value in row.values():
        items = value if isinstance(value, list) else [value]
        out |= {normalize_text(v) for v in items if isinstance(v, str) and len(normalize_text(v)) >= MIN_CHARS}
    return out


def training_values(stages, base_dir: Path) -> set[str]:
    """Every long-enough field value of every row the stages train on."""
    seen: set[str] = set()
    for st in stages:
        for d in st.datasets():
            for row in sources.load_split(d.data, d.split, base_dir, limit=d.limit):
                seen |= _values(row)
    return seen


def contaminated(eval_rows: list[dict], seen: set[str]) -> list[int]:
    """Indices of eval rows sharing a field value with the training data."""
    return [i for i, row in enumerate(eval_rows) if _values(row) & seen]
