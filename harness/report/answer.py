"""The answer a leaderboard opens with: per task metric and model, a few plain sentences.

Computed from the Table (so from the records alone), never written by hand. For each metric
of each non-retention eval (retention evals measure forgetting, which the tables show), and
for each model:

1. the best variant and those tied with it: the table's own `best` and `tied` marks (the
   stored paired test against the best, `vs_best`, not significant at ALPHA);
2. per cost (trainable parameters, peak memory, train time), the cheapest tuned variant
   not significantly worse than the best, with its cost as a share of the best's; nothing
   when that is the best itself, or when the best is a baseline (it trains nothing);
3. the best tuned variant against the strongest baseline (the stored
   `vs_strongest_baseline`, harness/analysis/compare.py), with its paired 95% CI and p;
4. whether the evidence separates the best from the runner-up and, when it does not, about
   how many examples would (80% power at alpha 0.05, from the observed delta and interval).

An eval written with several templates is answered per template (NAME@1, NAME@2..., each a
real eval with paired tests), and once more per metric with one sentence on the best
variant's mean and spread across the templates (harness/report/sensitivity.py).

Before the findings, `setup` says how the variants were compared: the training budget
(budgets.py), whether learning rates were searched (rate_search.py), what the in-context
baselines showed and whether prompts went through the chat template (prompting.py).

A row with several seeds has one stored comparison per seed: a claim of "within noise"
quotes the seed closest to significance (smallest p), a claim of a gain the seed furthest
from it (largest p), so the sentence holds for every seed. To add a finding, add a
function returning its sentence and call it in `_sentences`. Imports no torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from harness.report import budgets, numbers, prompting, rate_search, sensitivity
from harness.report.table import ALPHA, Column, Row, Table

Z_ALPHA, Z_POWER = 1.96, 0.84  # two-sided alpha 0.05; power 0.8

# (cost field, what the sentence calls it); the cost columns table.py builds
COSTS = [("trainable_params", "trainable parameters"), ("peak_memory_bytes", "peak memory"), ("train_seconds", "train time")]


@dataclass
class Finding:
    """The sentences about one metric of one eval on one model."""

    model: str
    column: Column
    sentences: list[str]

    def title(self, many_models: bool) -> str:
        col = self.column
        across = f" across {col.templates} templates" if col.kind == "templates" else ""
        header = numbers.header(col).replace(" mean", "", 1) if across else numbers.header(col)
        return f"{col.group} {header}{across}" + (f" on {self.model}" if many_models else "")


def answer(table: Table) -> list[Finding]:
    """Every finding of the table, in the order of its columns, then of its models."""
    found = []
    for col in table.columns:
        if col.kind not in ("metric", "templates") or col.retention:
            continue
        for model in table.models:
            rows = [r for r in table.rows if r.model == model and col.key in r.cells]
            if rows and col.kind == "templates":
                found.append(Finding(model, col, [sensitivity.sentence(col, rows)]))
            elif rows:
                found.append(Finding(model, col, _sentences(col, rows)))
    return found


def setup(table: Table) -> list[str]:
    """How the variants were compared: budget, learning rates, in-context baselines, prompts."""
    found = [budgets.sentence(table), rate_search.sentence(table), prompting.shots_sentence(table),
             prompting.chat_sentence(table)]
    return [s for s in found if s]


def examples_needed(delta: float, ci_low: float, ci_high: float, n: int) -> int | None:
    """Examples for 80% power at alpha 0.05 if the true difference is `delta`: the standard
    error shrinks as 1/sqrt(n), so n * ((z_a + z_b) * se / |delta|)^2, se from the 95% CI."""
    if delta == 0:
        return None
    se = (ci_high - ci_low) / 2 / Z_ALPHA
    return math.ceil(n * ((Z_ALPHA + Z_POWER) * se / abs(delta)) ** 2)


def _sentences(col: Column, rows: list[Row]) -> list[str]:
    key, metric = col.key, col.label
    if col.higher_is_better is None:
        return [f"{metric} has no registered direction, so no variant is called best."]
    best = next((r for r in rows if r.cells[key].best), None)
    if best is None:  # table.py marks no best in a column of equal values
        who = "every variant" if len(rows) > 1 else f"only {rows[0].name} is scored; it"
        return [f"{who[0].upper() + who[1:]} scores {numbers.number(col, rows[0].cells[key].value)}."]
    sign = 1.0 if col.higher_is_better else -1.0
    ranked = sorted(rows, key=lambda r: -sign * r.cells[key].value)  # stable: the table's order breaks ties
    out = [_best(col, best, rows)]
    out += _cheapest(col, best, rows)
    out += _gain(col, [r for r in ranked if not r.is_baseline], [r for r in ranked if r.is_baseline])
    out += _separation(col, best, [r for r in ranked if r is not best])
    return out


def _level(row: Row, key: str) -> bool:
    """Not significantly worse than the best, by the table's one notion of it."""
    cell = row.cells[key]
    return cell.best or cell.tied


def _best(col: Column, best: Row, rows: list[Row]) -> str:
    key = col.key
    text = f"{best.name} is best ({numbers.number(col, best.cells[key].value)}{_seeds(best)})."
    tied = [r.name for r in rows if r is not best and _level(r, key)]
    if tied:
        return text + f" Within noise of it (paired test, p ≥ {ALPHA}): {_join(tied)}."
    others = [r for r in rows if r is not best]
    if others and all(key in run.vs_best for r in others for run in r.runs if key in run.cells):
        return text + f" Every other variant is significantly worse (paired test, p < {ALPHA})."
    return text + " No paired comparisons are stored for some variants, so no tie is claimed (`harness score` adds them)."


def _cheapest(col: Column, best: Row, rows: list[Row]) -> list[str]:
    if best.is_baseline:
        return []  # the best trains nothing: no tuned variant is cheaper to have
    level = [best] + [r for r in rows if r is not best and not r.is_baseline and _level(r, col.key)]
    shares: dict[str, list[str]] = {}
    for name, what in COSTS:
        cost = f"cost:{name}"
        have = [r for r in level if cost in r.cells]
        if best not in have or not best.cells[cost].value:
            continue
        cheapest = min(have, key=lambda r: (r.cells[cost].value, r is not best))  # equal cost: the best itself
        if cheapest is not best:
            shares.setdefault(cheapest.key, []).append(f"{_percent(cheapest.cells[cost].value / best.cells[cost].value)} of its {what}")
    out = []
    for row in (r for r in level if r.key in shares):
        test = _quoted(row, col.key, "vs_best", closest=True)
        out.append(f"{row.name} is within noise of {best.name}{_interval(col, test, row)} at {_join(shares[row.key])}.")
    return out


def _gain(col: Column, tuned: list[Row], baselines: list[Row]) -> list[str]:
    if not tuned or not baselines:
        return []
    top, metric = tuned[0], col.label
    test = _quoted(top, col.key, "vs_strongest_baseline", closest=False)
    if test is None:
        strongest = baselines[0]
        delta = top.cells[col.key].value - strongest.cells[col.key].value
        return [f"{top.name} scores {numbers.number(col, delta, signed=True)} {metric} against the strongest baseline "
                f"({strongest.name}); no paired test is stored (`harness score` adds it)."]
    name = test.get("baseline")
    against = (f"the strongest baseline ({name})" if len(baselines) > 1
               else "the baseline" if name == "baseline" else f"the baseline ({name})")
    delta, p = test["delta"], test.get("p_value")
    detail = f"(95% CI [{_bound(col, test.get('ci_low'))}, {_bound(col, test.get('ci_high'))}], {_p(p)}{_of_seeds(top)})"
    if p is None or p >= ALPHA:
        return [f"{top.name} is not significantly different from {against}: {_signed(col, delta)} {metric} {detail}."]
    if (delta > 0) == bool(col.higher_is_better):
        return [f"{top.name} beats {against} by {_signed(col, delta)} {metric} {detail}."]
    return [f"{top.name} is worse than {against} by {_signed(col, delta)} {metric} {detail}."]


def _separation(col: Column, best: Row, others: list[Row]) -> list[str]:
    if not others:
        return []
    runner = others[0]
    test = _quoted(runner, col.key, "vs_best", closest=True)
    if test is None:
        return []
    what = f"{best.name} from the runner-up, {runner.name}{_interval(col, test, runner, p=True)}"
    if not _level(runner, col.key):
        return [f"The evidence separates {what}."]
    delta = test["delta"]
    needed = examples_needed(delta, test["ci_low"], test["ci_high"], test["n"]) if test.get("n") else None
    if needed is None:
        return [f"The evidence cannot separate {what}: the observed difference is zero."]
    return [f"The evidence cannot separate {what}: about {needed:,} examples would separate them "
            f"if the difference is real ({test['n']:,} were scored)."]


def _quoted(row: Row, key: str, name: str, closest: bool) -> dict[str, Any] | None:
    """The stored comparison a sentence quotes: with several seeds, the one nearest the
    claim's edge (closest: smallest p, for "within noise"; else largest p, for a gain)."""
    stored = [run.vs_best.get(key) if name == "vs_best" else run.cells[key].vs_strongest_baseline
              for run in row.runs if key in run.cells]
    tests = [t for t in stored if isinstance(t, dict) and t.get("delta") is not None]
    if not tests:
        return None
    p = lambda t: t.get("p_value") if t.get("p_value") is not None else 1.0  # noqa: E731
    return min(tests, key=p) if closest else max(tests, key=p)


def _interval(col: Column, test: dict[str, Any] | None, row: Row, p: bool = False) -> str:
    """' (delta -0.004, 95% CI [-0.020, 0.010])', or nothing without a stored test."""
    if test is None:
        return ""
    return (f" (delta {_signed(col, test.get('delta'))}, 95% CI [{_bound(col, test.get('ci_low'))}, "
            f"{_bound(col, test.get('ci_high'))}]" + (f", {_p(test.get('p_value'))}" if p else "") + _of_seeds(row) + ")")


def _of_seeds(row: Row) -> str:
    return f"; its least favourable of {len(row.runs)} seeds" if len(row.runs) > 1 else ""


def _seeds(row: Row) -> str:
    return f", mean of {len(row.runs)} seeds" if len(row.runs) > 1 else ""


def _signed(col: Column, value: float | None) -> str:
    return numbers.number(col, value, signed=True)


def _bound(col: Column, value: float | None) -> str:
    return numbers.number(col, value)


def _p(p: float | None) -> str:
    if p is None:
        return "p unknown"
    return "p < 0.001" if p < 0.001 else f"p = {p:.2g}"  # 0 from a bootstrap: no resample of 1,000 reached zero


def _percent(share: float) -> str:
    """68%, 1.8%, 0.031%: two significant figures, no exponent."""
    pct = 100 * share
    return f"{pct:.0f}%" if pct >= 9.95 else f"{float(f'{pct:.2g}'):g}%"


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
