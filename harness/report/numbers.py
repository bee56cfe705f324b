"""How the leaderboard writes numbers: one place, so Markdown and HTML say the same thing.

Scores stay on their library's scale (ROUGE and accuracy 0 to 1, BLEU and chrF 0 to 100);
the column header names the scale. Costs get units a reader scans at a glance (16.4K
params, 718.6 MB, 1.5 s, 34.4K tokens/s, 3.2P FLOPs, MFU 41.5%).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # types only: table.py's helpers (sensitivity.py) write numbers while table.py loads
    from harness.report.rows import Cell, Column


METRIC_PREFIXES = ("", "K", "M", "G", "T", "P", "E")  # FLOPs: giga, not billion


def _si(value: float, suffixes=("", "K", "M", "B", "T")) -> str:
    if value == 0:
        return "0"
    exponent = min(int(math.log10(abs(value)) // 3), len(suffixes) - 1) if abs(value) >= 1 else 0
    scaled = value / 1000 ** exponent
    return f"{scaled:.3g}{suffixes[exponent]}" if exponent else f"{value:,.0f}" if abs(value) >= 10 else f"{value:.3g}"


def size(nbytes: float) -> str:
    for unit, factor in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(nbytes) >= factor:
            return f"{nbytes / factor:.1f} {unit}"
    return f"{nbytes:.0f} B"


def duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.3g} s" if seconds < 10 else f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def decimals(column: Column) -> int:
    """Digits after the point: 0-1 scores to 3, 0-100 scores to 2, KL to 4."""
    return {"0-100": 2, "nats": 4}.get(column.unit, 3)


def number(column: Column, value: float | None, signed: bool = False) -> str:
    """A value of this column, with its unit where it has one."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if column.unit == "params":
        return _si(value)
    if column.unit == "bytes":
        return size(value)
    if column.unit == "seconds":
        return duration(value)
    if column.unit == "tokens/s":
        return _si(value)
    if column.unit == "flops":
        return _si(value, METRIC_PREFIXES)
    if column.unit == "fraction":
        return f"{100 * value:.3g}%"
    text = f"{value:.{decimals(column)}f}"
    return f"+{text}" if signed and value > 0 else text


def signed(column: Column) -> bool:
    return column.kind == "forgetting"


def value_text(column: Column, cell: Cell) -> str:
    return number(column, cell.value, signed(column))


def spread_text(column: Column, cell: Cell) -> str:
    """The uncertainty: ± std over seeds, else the 95% interval; for costs, the share of the model;
    for a mean across templates, ± their standard deviation and the worst template's score."""
    if column.kind == "templates":
        return template_spread(column, cell.std, cell.lowest, cell.highest)
    if cell.n_seeds > 1 and cell.std is not None and column.kind != "cost":  # a cost's spread is noise: its mean alone
        return f"± {number(column, cell.std)} ({cell.n_seeds} seeds)"
    if column.kind in ("metric", "forgetting", "drift") and cell.ci_low is not None and cell.ci_high is not None:
        return f"[{number(column, cell.ci_low, signed(column))}, {number(column, cell.ci_high, signed(column))}]"
    if cell.share is not None and cell.value:
        return f"({cell.share:.2f}%)" if cell.share < 99.995 else "(100%)"
    return ""


def template_spread(column: Column, std: float | None, lowest: float | None, highest: float | None) -> str:
    """'± 0.030 (min 0.490)': the spread across templates and the worst template's score (the
    lowest, or for a metric where lower is better the highest)."""
    worst = ("max", highest) if column.higher_is_better is False else ("min", lowest)
    parts = [f"± {number(column, std)}" if std is not None else ""]
    if worst[1] is not None:
        parts.append(f"({worst[0]} {number(column, worst[1])})")
    return " ".join(p for p in parts if p)


def header(column: Column) -> str:
    """'rouge1 (0-1)', 'rouge1 mean (0-1)' (across templates), 'peak memory', 'drift KL (nats)'."""
    if column.kind == "templates":
        return f"{column.label} mean ({column.unit})" if column.unit else f"{column.label} mean"
    if column.kind == "metric":
        return f"{column.label} ({column.unit})" if column.unit else column.label
    if column.unit == "nats":
        return f"{column.label} (nats)"
    return column.label
