"""The leaderboard as Markdown: for CI job summaries, pull-request comments and terminals.

It opens with the answer (harness/report/answer.py): per task metric, the best variant and
its ties, the cheapest one as good, the gain over the strongest baseline. Then one narrow table per eval (its metrics with their intervals), then forgetting, then cost, so
no line runs much past a terminal's width; cells are padded so the raw text lines up too.
Best values are bold, values not significantly different from the best carry ≈, and failed
variants are listed with their errors under the tables.
"""

from __future__ import annotations

from harness.report import numbers
from harness.report.answer import answer
from harness.report.table import ALPHA, Column, Row, Table, summary


def render_markdown(table: Table) -> str:
    ok = [r for r in table.rows if r.status == "ok" or r.cells]
    failed = [r for r in table.rows if r.status != "ok"]
    out = [f"## {table.suite}: leaderboard", ""]
    if table.description:
        out += [table.description, ""]
    out += [summary(table), ""]
    findings = answer(table)
    if findings:
        out += ["### The answer", ""]
        for finding in findings:
            out += [f"**{finding.title(len(table.models) > 1)}**", ""] + [f"- {s}" for s in finding.sentences] + [""]

    groups: dict[str, list[Column]] = {}
    for col in table.columns:
        title = col.group if col.kind == "metric" else {"forgetting": "forgetting", "drift": "forgetting"}.get(col.kind, "cost")
        groups.setdefault(title, []).append(col)
    for title, cols in groups.items():
        if title == "forgetting":
            out += ["### Forgetting (change from the base model, 95% paired interval; drift: KL per token)", ""]
        elif title == "cost":
            out += ["### Cost", ""]
        else:
            out += [f"### {title} (95% intervals)", ""]
        # forgetting is measured against the baseline, which is left out of that table
        rows = [r for r in ok if not (title == "forgetting" and r.is_baseline)]
        out += _table(table, rows, cols) + [""]

    out += [f"**Bold**: best in its column. ≈: not significantly different from the best (paired test, p ≥ {ALPHA})."
            " With several seeds: mean ± standard deviation across seeds.", ""]
    if failed:
        out += ["### Failed", ""] + [f"- {r.name}: {e}" for r in failed for e in r.errors] + [""]
    if table.notes:
        out += ["### Notes", ""] + [f"- {n}" for n in table.notes] + [""]
    return "\n".join(out).rstrip() + "\n"


def cell_text(col: Column, row: Row) -> str:
    cell = row.cells.get(col.key)
    if cell is None:
        return "–"
    value = numbers.value_text(col, cell)
    if cell.best:
        value = f"**{value}**"
    elif cell.tied:
        value = f"≈{value}"
    spread = numbers.spread_text(col, cell)
    return f"{value} {spread}" if spread else value


def _table(table: Table, rows: list[Row], cols: list[Column]) -> list[str]:
    many_models = len(table.models) > 1
    head = ["variant", "method"] + (["model"] if many_models else []) + [numbers.header(c) for c in cols]
    body = []
    for row in rows:
        if not any(c.key in row.cells for c in cols):
            continue
        label = row.name + (f" ({len(row.runs)} seeds)" if len(row.runs) > 1 else "")
        body.append([label, row.method] + ([row.model] if many_models else []) + [cell_text(c, row) for c in cols])
    if not body:
        return ["(no values)"]
    left = 2 + many_models
    widths = [max(len(line[i]) for line in [head] + body) for i in range(len(head))]

    def line(cells: list[str]) -> str:
        padded = [c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join(("-" * (w + 2)) if i < left else ("-" * (w + 1) + ":") for i, w in enumerate(widths)) + "|"
    return [line(head), rule] + [line(b) for b in body]
