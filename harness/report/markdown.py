"""The leaderboard as Markdown: for CI job summaries, pull-request comments and terminals.

It opens with the answer (harness/report/answer.py): per task metric, the best variant and
its ties, the cheapest one as good, the gain over the strongest baseline. Then one narrow table per eval (its metrics with their intervals), then forgetting, then cost, so
no line runs much past a terminal's width; cells are padded so the raw text lines up too.
Best values are bold, values not significantly different from the best carry ≈, and failed
variants are listed with their errors under the tables.

An eval written with several templates gets a table of its mean across them (± their
standard deviation: the prompt sensitivity) before the per-template tables, with each
template's prompt listed. Then the training each variant had (steps, budget, learning rate,
and where a stage trained on preference pairs, each stage's objective) and, where rates were
searched, every rate tried with its score.
"""

from __future__ import annotations

from harness.report import budgets, numbers, prompting, rate_search, sensitivity
from harness.report.answer import answer, setup
from harness.report.table import ALPHA, Column, Row, Table, summary


def render_markdown(table: Table) -> str:
    ok = [r for r in table.rows if r.status == "ok" or r.cells]
    failed = [r for r in table.rows if r.status != "ok"]
    out = [f"## {table.suite}: leaderboard", ""]
    if table.description:
        out += [table.description, ""]
    out += [summary(table), ""]
    findings, conditions = answer(table), setup(table)
    if findings or conditions:
        out += ["### The answer", ""]
        if conditions:
            out += ["**How the variants were compared**", ""] + [f"- {s}" for s in conditions] + [""]
        for finding in findings:
            out += [f"**{finding.title(len(table.models) > 1)}**", ""] + [f"- {s}" for s in finding.sentences] + [""]

    groups: dict[str, list[Column]] = {}
    for col in table.columns:
        if col.kind == "templates":
            title = f"templates:{col.group}"
        else:
            title = col.group if col.kind == "metric" else {"forgetting": "forgetting", "drift": "forgetting"}.get(col.kind, "cost")
        groups.setdefault(title, []).append(col)
    for title, cols in groups.items():
        if title == "forgetting":
            out += ["### Forgetting (change from the base model, 95% paired interval; drift: KL per token)", ""]
        elif title == "cost":
            out += ["### Cost", ""]
        elif title.startswith("templates:"):
            out += [f"### {cols[0].group} across its {cols[0].templates} templates (mean ± standard deviation across "
                    "them: the prompt sensitivity; min: the worst template)", ""]
        else:
            out += [f"### {title} (95% intervals)", ""]
        # forgetting is measured against the baseline, which is left out of that table
        rows = [r for r in ok if not (title == "forgetting" and r.is_baseline)]
        out += _table(table, rows, cols) + [""]
        if title.startswith("templates:"):
            out += [f"- {ev}: {_code(prompt)}" for ev, prompt in sensitivity.prompts(table, cols[0].group)] + [""]

    out += [f"**Bold**: best in its column. ≈: not significantly different from the best (paired test, p ≥ {ALPHA})."
            " With several seeds: mean ± standard deviation across seeds.", ""]
    out += _training(table)
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
    few_shot = any(r.shots for r in table.rows)
    head = ["variant", "method"] + (["model"] if many_models else []) + [numbers.header(c) for c in cols]
    body = []
    for row in rows:
        if not any(c.key in row.cells for c in cols):
            continue
        label = row.name + (f" ({len(row.runs)} seeds)" if len(row.runs) > 1 else "")
        chosen = rate_search.chosen_text(row)
        label += f" · {chosen}" if chosen else ""
        body.append([label, prompting.method_label(row, few_shot)] + ([row.model] if many_models else [])
                    + [cell_text(c, row) for c in cols])
    if not body:
        return ["(no values)"]
    return _grid(head, body, 2 + many_models)


def _grid(head: list[str], body: list[list[str]], left: int) -> list[str]:
    """A Markdown table padded so the raw text lines up: the first `left` columns to the left."""
    widths = [max(len(line[i]) for line in [head] + body) for i in range(len(head))]

    def line(cells: list[str]) -> str:
        padded = [c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join(("-" * (w + 2)) if i < left else ("-" * (w + 1) + ":") for i, w in enumerate(widths)) + "|"
    return [line(head), rule] + [line(b) for b in body]


def _training(table: Table) -> list[str]:
    """The training each tuned variant had, and the learning-rate search where one ran. Without
    a budget or a search, and with the same steps everywhere, the answer's one sentence says it
    all ("equal optimizer steps (12 per variant)"), and the table is left out."""
    rows = budgets.training_rows(table)
    searches = rate_search.search_rows(table)
    objectives = any(r["preference"] for r in rows)  # a preference stage: say what each variant optimised
    if not rows or (not searches and not objectives and len({r["steps"] for r in rows}) == 1
                    and all(r["budget"] == "–" for r in rows)):
        return []
    out = [f"### Training (steps run, budget, learning rate{', objective' if objectives else ''})", ""]
    head = ["variant", "method", "budget", "learning rate"] + (["objective"] if objectives else []) + ["steps run"]
    body = [[r["name"], r["method"], r["budget"], r["rate"]] + ([r["objective"]] if objectives else []) + [r["steps"]]
            for r in rows]
    out += _grid(head, body, len(head) - 1) + [""]
    if searches:
        out += ["### Learning-rate search", ""]
        settings: dict[str, list[str]] = {}
        for r in searches:
            settings.setdefault(r["setting"], []).append(r["name"])
        for text, names in settings.items():
            who = "" if len(settings) == 1 else f" ({', '.join(names)})"
            out += [f"One short run per rate{who}: {text}. **Bold**: the rate chosen.", ""]
        body = [[r["name"], " · ".join(f"**{t['rate']}: {t['score']}**" if t["chosen"] else f"{t['rate']}: {t['score']}"
                                       for t in r["tried"]), r["chosen"], r["seconds"]] for r in searches]
        out += _grid(["variant", "rate: score", "chosen", "search time"], body, 3) + [""]
    return out


def _code(text: str) -> str:
    """A prompt as inline code, its line breaks shown as \\n so it stays on one line."""
    flat = text.replace("\n", "\\n")  # inline code shows a backslash as itself
    fence = "``" if "`" in flat else "`"
    return f"{fence} {flat} {fence}" if fence == "``" else f"`{flat}`"
