"""Leaderboards: a suite's records -> an HTML page, Markdown, CSV or JSON. Imports no torch.

table.py folds the records into one Table (seeds, best, ties; sensitivity.py the means
across an eval's templates); numbers.py writes its values; answer.py states what it says
(how the variants were compared: budgets.py, rate_search.py, prompting.py; then best, ties,
cheapest as good, gain over the strongest baseline, prompt sensitivity), which Markdown and
HTML open with; markdown.py, tabular.py (CSV, JSON) and html.py (with charts.py,
examples.py and provenance.py) render it; the training table says each stage's objective
(objectives.py: sft, or a preference loss with its reference). `render(tables, fmt)` is
the one entry point the CLI uses.
"""

from __future__ import annotations

from harness.report.table import Table, build_table

FORMATS = ("html", "md", "csv", "json")


def render(tables: list[Table], fmt: str, examples: int | None = None) -> str:
    """One text in `fmt` for these tables (html and md: one table, or each after another)."""
    if fmt == "html":
        from harness.report.html import EXAMPLES, render_html

        if len(tables) != 1:
            raise ValueError("an HTML page holds one suite")
        return render_html(tables[0], EXAMPLES if examples is None else examples)
    if fmt == "md":
        from harness.report.markdown import render_markdown

        return "\n".join(render_markdown(t) for t in tables)
    from harness.report.tabular import render_csv, render_json

    return render_csv(tables) if fmt == "csv" else render_json(tables)


__all__ = ["FORMATS", "Table", "build_table", "render"]
