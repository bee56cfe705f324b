"""The leaderboard as one self-contained HTML page: the answer, table, training, charts,
examples, provenance.

Everything is inline (style, Chart.js, the page's script, the data), so the page opens from
disk, a CI artifact or a locked-down browser, and it asks nothing of any network.

Safety, since predictions and data are text a model or a dataset wrote:
* the markup is rendered by Jinja2 with autoescaping, so any text shows as text;
* the data the script reads sits in a <script type="application/json"> block with every
  <, > and & written as \\u003c, \\u003e, \\u0026, so no text can close that block;
* the Content-Security-Policy allows only the page's own two scripts (by their sha256) and
  its style, and no connection, frame, font or image but data: URLs. Even markup that got
  through would run nothing and fetch nothing.
To add a section: give the template its data in `render_html` and its script in page.js.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from functools import lru_cache
from importlib import resources
from typing import Any

import jinja2
import yaml
from markupsafe import Markup

from harness.report import budgets, numbers, prompting, rate_search, sensitivity
from harness.report.answer import answer, setup
from harness.report.charts import chart_data
from harness.report.examples import example_view
from harness.report.provenance import provenance
from harness.report.table import ALPHA, Cell, Column, Row, Run, Table, summary

EXAMPLES = 20  # per eval: the page's per-example view shows this many by default


@lru_cache(maxsize=None)
def _asset(name: str) -> str:
    return (resources.files("harness.report") / name).read_text(encoding="utf-8")


def chart_library() -> str:
    # The source-map comment would make a browser's developer tools ask for a file: drop it.
    return re.sub(r"//# sourceMappingURL=\S+\s*$", "", _asset("vendor/chart.umd.min.js"))


def script_json(data: Any) -> str:
    """JSON that is safe inside a <script> element: no <, > or & survives as itself."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=str)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def content_security_policy(scripts: list[str], styles: list[str]) -> str:
    return "; ".join([
        "default-src 'none'",
        "script-src " + " ".join(_sha256(s) for s in scripts),
        "style-src " + " ".join(_sha256(s) for s in styles),
        "img-src data:", "base-uri 'none'", "form-action 'none'",
    ])


# C0 controls a model may emit would vanish or garble the page: show them as control pictures.
_CONTROLS = {i: 0x2400 + i for i in range(32) if chr(i) not in "\n\t"} | {0x7F: 0x2421}


def visible(text: str) -> str:
    return str(text).translate(_CONTROLS)


def _tooltip(col: Column, cell: Cell) -> str:
    lines = []
    if col.kind == "templates":
        lines.append(f"mean of {col.templates} templates ± their standard deviation (the prompt sensitivity)")
        if cell.per_template:
            lines.append("per template: " + ", ".join(numbers.number(col, v) for v in cell.per_template))
        if cell.n_seeds > 1:
            lines.append(f"each figure the mean over {cell.n_seeds} seeds")
    if cell.n:
        lines.append(f"{cell.n} examples")
    if cell.vs_baseline:
        lines.append(_comparison("vs baseline", col, cell.vs_baseline))
    if cell.p_vs_best is not None:
        lines.append(f"vs best: p = {cell.p_vs_best:.3g}")
    if col.kind == "forgetting" and cell.p_value is not None:
        lines.append(f"vs the base model: p = {cell.p_value:.3g}")
    if cell.share is not None:
        lines.append(f"{cell.share:.2f}% of the model's parameters")
    return "\n".join(lines) or col.help


def _comparison(what: str, col: Column, test: dict[str, Any]) -> str:
    delta = numbers.number(col, test.get("delta"), signed=True)
    interval = f"[{numbers.number(col, test.get('ci_low'), True)}, {numbers.number(col, test.get('ci_high'), True)}]"
    p = test.get("p_value")
    return f"{what}: {delta} {interval}" + (f", p = {p:.3g} ({test.get('test', '')})" if p is not None else "")


def _sort_value(col: Column, cell: Cell | None) -> str:
    if cell is None or cell.value is None:
        return ""
    return repr(abs(cell.value)) if col.kind == "drift" else repr(cell.value)


def _params(params: dict[str, Any]) -> str:
    """The method's parameters as resolved (defaults filled in), unset ones left out."""
    return ", ".join(f"{k}={v}" for k, v in params.items() if v is not None)


def _search(row: Row) -> str:
    return " ".join([row.name, row.method, row.model, _params(row.params)]).lower()


def _contamination(run: Run) -> str:
    return "; ".join(f"{hit.get('count')} of {hit.get('n')} examples of {ev} appear in the training data"
                     for ev, hit in run.contamination.items())


def _scores(scores: dict[str, float]) -> str:
    return " · ".join(f"{k} {v:.3g}" for k, v in scores.items())


def _top_score(example: dict[str, Any], metric: str) -> float | None:
    values = [o["scores"][metric] for o in example["outputs"] if metric in o["scores"]]
    return max(values) if values else None


def _groups(table: Table) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = []
    for col in table.columns:
        if col.kind == "templates":
            label = f"{col.group} · mean of {col.templates} templates"
        else:
            label = col.group if col.kind == "metric" else ("forgetting" if col.kind in ("forgetting", "drift") else "cost")
        if groups and groups[-1]["label"] == label:
            groups[-1]["span"] += 1
        else:
            groups.append({"label": label, "span": 1})
    return groups


def _training_note(row: Row) -> str:
    """Beside a tuned variant's name: 'lr 3e-4 (searched) · 24 steps'."""
    if row.is_baseline:
        return ""
    steps = budgets.steps_text(row)
    return " · ".join(p for p in (rate_search.chosen_text(row), f"{steps} steps" if steps else None) if p)


def _setting_lines(searches: list[dict[str, Any]]) -> list[str]:
    """What the searches' scores rest on: one line, or one per setting with its variants."""
    settings: dict[str, list[str]] = {}
    for r in searches:
        settings.setdefault(r["setting"], []).append(r["name"])
    if len(settings) == 1:
        return [f"One short run per rate: {next(iter(settings))}."]
    return [f"{', '.join(names)}: {text}." for text, names in settings.items()]


def page_data(table: Table) -> dict[str, Any]:
    """What page.js reads: columns, each row's values (with their text) and the charts."""
    rows = [{"key": r.key, "name": r.name, "method": r.method, "model": r.model, "is_baseline": r.is_baseline,
             "cells": {k: {"value": c.value, "text": numbers.value_text(table.column(k), c)} for k, c in r.cells.items()}}
            for r in table.rows]
    return {"suite": table.suite, "rows": rows, "charts": chart_data(table)}


def render_html(table: Table, examples: int = EXAMPLES) -> str:
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    template = env.from_string(_asset("static/page.html.j2"))
    notes: list[str] = []
    view = example_view(table, examples, notes)
    table.notes.extend(n for n in notes if n not in table.notes)
    scripts = [chart_library(), _asset("static/page.js")]
    css = _asset("static/page.css")
    for s in scripts:
        if "</script" in s.lower():
            raise ValueError("an inline script may not contain '</script'")
    searches = rate_search.search_rows(table)
    evals_of = {name: sensitivity.prompts(table, name) for name in table.templates}
    data = page_data(table)
    training = budgets.training_rows(table)
    return template.render(
        setup=setup(table), training=training, searches=searches,
        objectives=any(r["preference"] for r in training), preference=bool(data["charts"]["preference"]),
        search_settings=_setting_lines(searches), templated=evals_of, training_note=_training_note,
        method_label=prompting.method_label, few_shot=any(r.shots for r in table.rows),
        prompting=[s for s in (prompting.chat_sentence(table), prompting.shots_sentence(table)) if s],
        t=table, csp=content_security_policy(scripts, [css]), css=Markup(css),
        scripts=[Markup(s) for s in scripts], data_json=Markup(script_json(data)),
        prov=provenance(table), summary=summary(table), examples=view, alpha=ALPHA, answer=answer(table),
        groups=_groups(table), many_models=len(table.models) > 1,
        methods=sorted({r.method for r in table.rows if not r.is_baseline}),
        header=numbers.header, value=numbers.value_text, spread=numbers.spread_text, tooltip=_tooltip,
        sort_value=_sort_value, params=_params, search=_search, contamination=_contamination,
        scores=_scores, top_score=_top_score, visible=visible,
        resolved_spec="" if table.suite_text else yaml.safe_dump(table.first_spec, sort_keys=False, allow_unicode=True),
    )
