"""The leaderboard as data: CSV (one row per variant and metric) and JSON (the whole table).

CSV rows are per run, i.e. per record (variant and seed), in long form so pandas, a
spreadsheet or a SQL load can pivot them any way: `eval` is the eval's name for scores,
"forgetting/EVAL" for a retention check's change from the base model, "drift" for the
drift probe and "cost" for costs. `best` and `tied` are the marks of the folded row. The
means across an eval's templates are left out: they are derived from the per-template rows
(NAME@1, NAME@2...), which are here, and the JSON carries them.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pandas as pd

from harness.report.table import Table

CSV_COLUMNS = ["suite", "model", "name", "method", "seed", "variant_id", "status", "eval", "metric", "value",
               "ci_low", "ci_high", "n", "higher_is_better", "vs_baseline_delta", "vs_baseline_ci_low",
               "vs_baseline_ci_high", "vs_baseline_p", "vs_best_p", "best", "tied", "error"]


def _where(col) -> tuple[str, str]:
    if col.kind == "metric":
        return col.eval, col.metric
    if col.kind == "forgetting":
        return f"forgetting/{col.eval}", col.metric
    if col.kind == "drift":
        return "drift", "kl_per_token"
    return "cost", col.key.split(":", 1)[1]


def long_rows(table: Table) -> list[dict[str, Any]]:
    out = []
    for row in table.rows:
        for run in row.runs:
            base = {"suite": table.suite, "model": row.model, "name": row.name, "method": row.method,
                    "seed": run.seed, "variant_id": run.variant_id, "status": run.status}
            if run.status != "ok":
                out.append({**base, "error": run.error})
                continue
            for col in table.columns:
                cell = run.cells.get(col.key)
                if cell is None or col.kind == "templates":
                    continue
                ev, metric = _where(col)
                folded = row.cells.get(col.key)
                vb = cell.vs_baseline or {}
                if col.kind == "forgetting":  # the value is itself the paired change from the base model
                    vb = {"delta": cell.value, "ci_low": cell.ci_low, "ci_high": cell.ci_high, "p_value": cell.p_value}
                out.append({**base, "eval": ev, "metric": metric, "value": cell.value, "ci_low": cell.ci_low,
                            "ci_high": cell.ci_high, "n": cell.n, "higher_is_better": col.higher_is_better,
                            "vs_baseline_delta": vb.get("delta"), "vs_baseline_ci_low": vb.get("ci_low"),
                            "vs_baseline_ci_high": vb.get("ci_high"), "vs_baseline_p": vb.get("p_value"),
                            "vs_best_p": cell.p_vs_best,
                            "best": bool(folded and folded.best), "tied": bool(folded and folded.tied)})
    return out


def frame(tables: list[Table]) -> pd.DataFrame:
    """The long rows as a DataFrame (what `harness.load_results` returns and the CSV holds)."""
    out = pd.DataFrame([r for t in tables for r in long_rows(t)], columns=CSV_COLUMNS)
    out[["seed", "n"]] = out[["seed", "n"]].astype("Int64")  # counts stay integers beside empty cells
    return out


def render_csv(tables: list[Table]) -> str:
    return frame(tables).to_csv(index=False)


def table_dict(table: Table) -> dict[str, Any]:
    """The table as plain data (what `--format json` prints and the page embeds parts of)."""
    data = dataclasses.asdict(table)
    for row, out in zip(table.rows, data["rows"]):
        out.update(is_baseline=row.is_baseline, status=row.status, seeds=row.seeds, errors=row.errors)
    return data


def render_json(tables: list[Table]) -> str:
    data = [table_dict(t) for t in tables]
    return json.dumps(data[0] if len(data) == 1 else data, indent=2, ensure_ascii=False, default=str) + "\n"
