"""Prompt sensitivity: an eval written with several templates, summed up across them.

Such an eval is scored once per template, as ordinary evals NAME@1, NAME@2... (each with its
own intervals and paired tests, shown and compared like any eval); the record's `templates`
holds per NAME the mean, standard deviation, min and max of each metric across them. The
spread says how much a score depends on the prompt's wording, which tuning may shrink.

Owned here: which templated evals the records hold (`groups`), a run's summary of one
(`stats`), seeds folded (`fold`: each figure the mean over seeds, so the spread stays the one
across templates), the answer's sentence about the best variant's mean and spread
(`sentence`), and each template's prompt for the page (`prompts`). table.py turns the
summaries into its "templates" columns, placed before the per-template evals. Imports no torch.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

from harness.records.schema import Record
from harness.report import numbers
from harness.report.rows import Column, Row, Table

PROMPT_CHARS = 400  # a template's prompt is shown up to this many characters


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _summary(entry: Any) -> dict[str, Any] | None:
    """A stored {mean, std, min, max, values}, None unless its mean is a number; any other figure
    that is not a number is left out (None) rather than guessed."""
    if not isinstance(entry, dict) or not _number(entry.get("mean")):
        return None
    out: dict[str, Any] = {k: float(entry[k]) if _number(entry.get(k)) else None for k in ("mean", "std", "min", "max")}
    values = entry.get("values")
    out["values"] = [float(v) for v in values] if isinstance(values, list) and all(_number(v) for v in values) else None
    return out


def groups(records: list[Record]) -> dict[str, dict[str, Any]]:
    """NAME -> {"evals": [NAME@1, ...], "prompts": [...], "metrics": [...]}, for every templated
    eval a record summarises (the fullest list of templates any record has)."""
    out: dict[str, dict[str, Any]] = {}
    for record in records:
        for name, entry in record.templates.items():
            if not isinstance(entry, dict):
                continue
            evals = [e for e in entry.get("evals") or [] if isinstance(e, str)]
            metrics = [m for m, s in (entry.get("metrics") or {}).items() if _summary(s) is not None]
            group = out.setdefault(name, {"evals": [], "prompts": [], "metrics": []})
            if len(evals) > len(group["evals"]):
                group["evals"] = evals
                group["prompts"] = [str(p) for p in entry.get("prompts") or []]
            group["metrics"] += [m for m in metrics if m not in group["metrics"]]
    return {name: g for name, g in out.items() if g["evals"] and g["metrics"]}


def stats(record: Record, name: str | None, metric: str | None) -> dict[str, Any] | None:
    """One record's summary of `metric` across the templates of eval `name`."""
    entry = record.templates.get(name or "")
    return _summary((entry.get("metrics") or {}).get(metric)) if isinstance(entry, dict) else None


def fold(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """Seeds -> one summary: each figure the mean over the seeds that have it (the standard
    deviation stays the one across templates, averaged; not a spread across seeds)."""
    def mean(key: str) -> float | None:
        values = [s[key] for s in summaries if s.get(key) is not None]
        return statistics.fmean(values) if values else None

    lists = [s.get("values") for s in summaries]
    same = all(isinstance(v, list) for v in lists) and len({len(v or []) for v in lists}) == 1
    per_template = [statistics.fmean(vs) for vs in zip(*lists)] if same else None
    return {"mean": mean("mean"), "std": mean("std"), "min": mean("min"), "max": mean("max"), "values": per_template}


def sentence(col: Column, rows: list[Row]) -> str:
    """The best variant's mean and spread across templates, beside the zero-shot baseline's.
    It says tuning lowers the sensitivity only where the best's spread is smaller as shown;
    a spread is an observation over a few templates, never a tested difference."""
    key, sign = col.key, (-1.0 if col.higher_is_better is False else 1.0)
    best = next((r for r in rows if r.cells[key].best), None) or max(rows, key=lambda r: sign * r.cells[key].value)
    baselines = [r for r in rows if r.is_baseline]
    base = next((r for r in baselines if r.shots == 0), baselines[0] if baselines else None)
    seeds = f" (mean of {len(best.runs)} seeds)" if len(best.runs) > 1 else ""
    text = f"Across {col.templates} templates {best.name}{seeds} scores {_figures(col, best)}"
    if base is None or base is best:
        return text + "."
    against = "the baseline" if base.name == "baseline" else f"the baseline ({base.name})"
    text += f"; {against} {_figures(col, base)}"
    mine, theirs = best.cells[key].std, base.cells[key].std
    if mine is None or theirs is None:
        return text + "."
    if numbers.number(col, mine) == numbers.number(col, theirs):
        return text + ": the same spread across templates."
    if mine < theirs:
        return text + ": tuning also lowers prompt sensitivity (a smaller spread across templates, not a tested difference)."
    return text + f": {best.name} is more sensitive to the prompt (a wider spread across templates, not a tested difference)."


def _figures(col: Column, row: Row) -> str:
    """'0.520 ± 0.030 (min 0.490)'."""
    cell = row.cells[col.key]
    spread = numbers.template_spread(col, cell.std, cell.lowest, cell.highest)
    return f"{numbers.number(col, cell.value)} {spread}".rstrip()


def prompts(table: Table, name: str) -> list[tuple[str, str]]:
    """(eval, its template's prompt) for each template of `name`, long prompts cut."""
    group = table.templates.get(name) or {}
    texts = list(group.get("prompts") or [])
    out = []
    for i, ev in enumerate(group.get("evals") or []):
        text = texts[i] if i < len(texts) else ""
        out.append((ev, text if len(text) <= PROMPT_CHARS else text[:PROMPT_CHARS] + "…"))
    return out
