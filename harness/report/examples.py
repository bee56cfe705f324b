"""The page's per-example view: one input, its references, and every variant's output.

Read from each variant's predictions/<eval>.jsonl (its first seed's run). Examples are
matched by id (harness/records/predictions.py) and ordered by how much the variants disagree on them: the
range of their per-example scores on the eval's first metric that has them, then their
spread (standard deviation), then how many different outputs there are. Only the most
telling `limit` examples per eval go into the page so it stays small; the rest stay in the
records. Long texts are cut: prompts keep their end (where the question is), outputs
their start.
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.records.predictions import keyed, predictions_path, read_predictions
from harness.report.table import Row, Table

PROMPT_CHARS = 3000
OUTPUT_CHARS = 1000
MAX_REFERENCES = 5


def _cut_start(text: str, limit: int) -> str:
    return text if len(text) <= limit else "…" + text[-limit:]


def _cut_end(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _answer(row: dict, value: Any) -> str:
    """A multiple-choice letter with the text it stands for ("B. 1,800"); anything else as it is."""
    choices = row.get("choices")
    letter = str(value)
    if isinstance(choices, list) and len(letter) == 1 and "A" <= letter < chr(ord("A") + len(choices)):
        return f"{letter}. {choices[ord(letter) - ord('A')]}"
    return letter


def _numbers(scores: Any) -> dict[str, float]:
    if not isinstance(scores, dict):
        return {}
    return {k: float(v) for k, v in scores.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}


def _rows_of(table: Table, row: Row, ev: str, notes: list[str]) -> dict[Any, dict] | None:
    run = next((r for r in row.runs if r.status == "ok"), None)
    if run is None:
        return None
    directory = Path(table.suite_dir) / run.variant_id
    try:
        if not predictions_path(directory, ev).is_file():
            return None
        return keyed(read_predictions(directory, ev))
    except HarnessError as err:
        notes.append(f"not shown in the examples: {err}")
        return None


def _disagreement(outputs: list[dict[str, Any]], metric: str | None) -> tuple[float, float, int]:
    values = [o["scores"][metric] for o in outputs if metric and metric in o["scores"]]
    spread = max(values) - min(values) if values else 0.0
    std = statistics.pstdev(values) if len(values) > 1 else 0.0
    return spread, std, len({o["prediction"] for o in outputs})


def example_view(table: Table, limit: int, notes: list[str]) -> list[dict[str, Any]]:
    """Per eval: the `limit` examples the variants disagree on most, with every variant's output."""
    shown_rows = [r for r in table.rows if any(run.status == "ok" for run in r.runs)]
    evals = list(dict.fromkeys(c.eval for c in table.columns if c.kind == "metric" and c.eval is not None))
    out = []
    for ev in evals:
        per_row = {r.key: rows for r in shown_rows if (rows := _rows_of(table, r, ev, notes)) is not None}
        if not per_row or limit <= 0:
            continue
        ids = [i for i in next(iter(per_row.values())) if all(i in rows for rows in per_row.values())]
        if not ids:
            continue
        metrics = [c.metric for c in table.columns if c.kind == "metric" and c.eval == ev]
        # the first metric with per-example scores (corpus metrics such as BLEU may have none)
        metric = next((m for m in metrics if any(m in _numbers(rows[ids[0]].get("scores")) for rows in per_row.values())), None)
        names = {r.key: r.name for r in shown_rows}
        examples = []
        for i in ids:
            first = next(iter(per_row.values()))[i]
            outputs = [{"row": key, "name": names[key],
                        "prediction": _cut_end(_answer(rows[i], rows[i].get("prediction", "")), OUTPUT_CHARS),
                        "scores": _numbers(rows[i].get("scores"))} for key, rows in per_row.items()]
            given = first.get("references")
            refs = given if isinstance(given, list) else []
            examples.append({
                "id": i, "prompt": _cut_start(str(first.get("prompt", "")), PROMPT_CHARS),
                "prompt_cut": len(str(first.get("prompt", ""))) > PROMPT_CHARS,
                "references": [_cut_end(_answer(first, x), OUTPUT_CHARS) for x in refs[:MAX_REFERENCES]],
                "more_references": max(0, len(refs) - MAX_REFERENCES),
                "subject": first.get("subject"), "outputs": outputs,
                "disagreement": _disagreement(outputs, metric),
            })
        examples.sort(key=lambda e: tuple(-x for x in e["disagreement"]))
        out.append({"eval": ev, "metric": metric, "total": len(ids), "examples": examples[:limit],
                    "variants": len(per_row)})
    return out
