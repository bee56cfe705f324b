"""What the page's charts draw, computed here so it is tested in Python; the page only plots it.

* quality against cost: for every metric column and every cost (peak memory, train time,
  trainable parameters, training FLOPs), each tuned variant's point and the Pareto frontier, i.e. the
  variants no other variant beats on both (cheaper or equal and at least as good, one of
  them strictly). The baseline is a reference line, not a point: it costs no training.
* gain against forgetting: each tuned variant's change of a metric from the baseline
  against how much it forgot (the drop on a retention eval, or the drift probe's KL).
* training loss: each run's curve, thinned to at most CURVE_POINTS points for the page.
* preference training (objective dpo): each run's reward margin and accuracy per step on its
  training batches (the record's preference_curve), thinned the same way; empty when no
  record has one, and the page then leaves those charts out.
Points that are not finite numbers are dropped: JSON has no NaN, and a line cannot draw one.
"""

from __future__ import annotations

import math
from typing import Any

from harness.report.table import Column, Row, Run, Table

CURVE_POINTS = 400
COST_AXES = ("cost:peak_memory_bytes", "cost:train_seconds", "cost:trainable_params", "cost:train_flops")


def pareto_front(points: list[tuple[str, float, float]], higher_is_better: bool = True) -> list[str]:
    """Keys of the non-dominated (key, cost, quality) points, cheapest first (lower cost is better)."""
    sign = 1.0 if higher_is_better else -1.0
    ordered = sorted(points, key=lambda p: (p[1], -sign * p[2], p[0]))
    front, best, best_cost = [], None, None
    for key, cost, quality in ordered:
        # strictly better than everything cheaper, or equal on both to the last point kept (neither dominates)
        if best is None or sign * quality > best or (sign * quality == best and cost == best_cost):
            front.append(key)
            best, best_cost = sign * quality, cost
    return front


def thin(curve: list[tuple[int, float]], limit: int = CURVE_POINTS) -> list[tuple[int, float]]:
    """Every k-th point so at most `limit` remain, the last one always kept."""
    points = [(s, loss) for s, loss in curve if math.isfinite(loss)]  # (step, loss) tuples, whatever pairs came in
    if len(points) <= limit:
        return points
    step = -(-len(points) // limit)
    kept = points[::step]
    return kept if kept[-1] == points[-1] else kept[:-1] + [points[-1]]


def _label(row: Row, run: Run) -> str:
    return row.name if len(row.runs) == 1 else f"{row.name} (seed {run.seed})"


def preference_curves(table: Table) -> list[dict[str, Any]]:
    """Per run with a preference curve: its margin and accuracy per step, each thinned."""
    out = []
    for row in table.rows:
        for run in row.runs:
            series: dict[str, list[tuple[int, float]]] = {"margin": [], "accuracy": []}
            for point in run.preference_curve:
                step = point.get("step")
                if not isinstance(step, (int, float)) or not math.isfinite(step):
                    continue
                for key, points in series.items():
                    value = point.get(key)
                    if isinstance(value, (int, float)):
                        points.append((int(step), float(value)))
            if any(series.values()):
                out.append({"row": row.key, "label": _label(row, run), **{k: thin(v) for k, v in series.items()}})
    return out


def _forgetting_measures(table: Table) -> list[dict[str, Any]]:
    """How much each tuned variant forgot, by each measure the suite has: larger is worse."""
    out = []
    for col in table.columns:
        if col.kind == "forgetting":
            sign = -1.0 if col.higher_is_better else 1.0  # a drop of a higher-is-better metric is forgetting
            label = f"drop of {col.eval} {col.metric} from the base model"
        elif col.kind == "drift":
            sign, label = 1.0, "drift: KL(base || tuned) per token (nats)"
        else:
            continue
        values = {r.key: sign * r.cells[col.key].value for r in table.rows if col.key in r.cells and not r.is_baseline}
        if values:
            out.append({"key": col.key, "label": label, "values": values})
    return out


def chart_data(table: Table) -> dict[str, Any]:
    metrics = [c for c in table.columns if c.kind == "metric"]
    costs = [c for c in table.columns if c.key in COST_AXES]
    frontiers: dict[str, list[str]] = {}
    baselines: dict[str, dict[str, float]] = {}  # metric -> model -> the baseline's value
    gains: dict[str, dict[str, float]] = {}  # metric -> row -> value minus its model's baseline
    for m in metrics:
        base = {r.model: r.cells[m.key].value for r in table.rows if r.is_baseline and m.key in r.cells}
        baselines[m.key] = base
        gains[m.key] = {r.key: r.cells[m.key].value - base[r.model] for r in table.rows
                        if not r.is_baseline and m.key in r.cells and r.model in base}
        for c in costs:
            for model in table.models:
                points = [(r.key, r.cells[c.key].value, r.cells[m.key].value) for r in table.rows
                          if r.model == model and not r.is_baseline and m.key in r.cells and c.key in r.cells]
                if c.unit == "params":  # a log axis: zero trainable parameters cannot be drawn
                    points = [p for p in points if p[1] > 0]
                frontiers.setdefault(f"{m.key}|{c.key}", []).extend(pareto_front(points, m.higher_is_better is not False))
    curves = [{"row": row.key, "label": _label(row, run), "points": thin(run.train_curve)}
              for row in table.rows for run in row.runs if run.train_curve]
    return {
        "metrics": [_axis(m) for m in metrics], "costs": [_axis(c) for c in costs],
        "frontiers": frontiers, "baselines": baselines, "gains": gains,
        "forgetting": _forgetting_measures(table), "curves": curves, "preference": preference_curves(table),
    }


def _axis(col: Column) -> dict[str, Any]:
    label = f"{col.group} {col.label}" if col.kind == "metric" else col.label
    return {"key": col.key, "label": label, "unit": col.unit, "higher_is_better": col.higher_is_better,
            "log": col.unit == "params"}
