"""The learning-rate search as the leaderboard shows it: the rate each variant trained at, and
the short runs that chose it (from each record's `search`, written by harness/run/search.py).

A comparison at one hand-picked rate per method measures the pick; a search gives each method
its best rate on held-out data. The page says, per variant that searched, the chosen rate
(`chosen_text`, beside its name), every rate tried with its score, the chosen one marked, and
what the scores rest on: the steps of each short run against the final run's, the metric and
the held-out data (`search_rows`, `setting`); and in the answer, whether every tuned variant's
rate was searched, none or only some (`sentence`). Imports no torch.
"""

from __future__ import annotations

from typing import Any

from harness.report import numbers
from harness.report.table import Row, Run, Table


def rate(value: Any) -> str:
    """A learning rate as people write it: 3e-4, 1.5e-5, 0.1."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return str(value)
    if value == 0 or abs(value) >= 0.01:
        return f"{value:.3g}"
    mantissa, exponent = f"{value:.2e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def searched(row: Row) -> list[Run]:
    """The row's runs that chose their rate by a search."""
    return [run for run in row.runs if run.status == "ok" and run.search.get("values")]


def chosen_text(row: Row) -> str | None:
    """'lr 3e-4 (searched)'; seeds that chose differently: 'lr 3e-4/1e-3 (searched)'."""
    chosen = list(dict.fromkeys(rate(run.search.get("chosen")) for run in searched(row)))
    return f"lr {'/'.join(chosen)} (searched)" if chosen else None


def set_rates(row: Row) -> str | None:
    """The rate(s) the suite set, from the resolved spec's stages ('2e-4', '1e-3 then 2e-4')."""
    run = next((r for r in row.runs if r.spec.get("stages")), None)
    if run is None:
        return None
    rates = [rate(st.get("learning_rate")) for st in run.spec["stages"] if isinstance(st, dict) and st.get("learning_rate")]
    return " then ".join(dict.fromkeys(rates)) if rates else None


def rate_text(row: Row) -> str:
    """The rate a tuned row trained at, for the training table: chosen by search, or as set."""
    return (chosen_text(row) or "").removeprefix("lr ") or set_rates(row) or "–"


def setting(search: dict[str, Any]) -> str:
    """'each rate trained 20 steps against the final run's 200, scored by loss (lower is
    better) on data/d2t.jsonl (validation), up to 64 examples'."""
    direction = "higher" if search.get("higher_is_better") else "lower"
    data = search.get("data") or "the training data"
    return (f"each rate trained {search.get('steps')} steps against the final run's {search.get('final_steps')}, "
            f"scored by {search.get('metric')} ({direction} is better) on {data} ({search.get('split')}), "
            f"up to {search.get('limit')} examples")


def search_rows(table: Table) -> list[dict[str, Any]]:
    """Per variant (and seed) that searched: each rate tried with its score, the chosen one
    marked, what the scores rest on and how long the search took."""
    out = []
    for row in table.rows:
        runs = searched(row)
        for run in runs:
            s = run.search
            scores = list(s.get("scores") or [])
            tried = []
            for i, value in enumerate(s["values"]):
                score = scores[i] if i < len(scores) else None
                tried.append({"rate": rate(value), "score": "diverged" if score is None else f"{score:.4g}",
                              "chosen": value == s.get("chosen")})
            out.append({
                "name": row.name if len(runs) == 1 else f"{row.name} (seed {run.seed})", "row": row.key,
                "tried": tried, "chosen": rate(s.get("chosen")), "setting": setting(s),
                "seconds": numbers.duration(s["seconds"]) if isinstance(s.get("seconds"), (int, float)) else "–",
            })
    return out


def sentence(table: Table) -> str | None:
    """Whether every tuned variant's rate was searched, none of them or only some."""
    tuned = [r for r in table.rows if not r.is_baseline and any(run.status == "ok" for run in r.runs)]
    if not tuned:
        return None
    done = [r for r in tuned if searched(r)]
    if len(done) == len(tuned):
        return "Each method trained at the learning rate its search picked on held-out data."
    fixed = [r for r in tuned if r not in done]
    rates = {r.name: found for r in fixed if (found := set_rates(r))}
    if not done:
        detail = f" ({', '.join(f'{n} {x}' for n, x in rates.items())})" if rates else ""
        return f"No learning-rate search ran: each method trained at the rate the suite set{detail}."
    names = _join([r.name for r in fixed])
    if len(fixed) == 1:
        detail = f" ({rates[fixed[0].name]})" if rates else ""
        return (f"The learning rate was searched on held-out data for {_join([r.name for r in done])} only; "
                f"{names} trained at the rate the suite set{detail}, so its score also reflects that pick.")
    detail = f" ({', '.join(f'{n} {x}' for n, x in rates.items())})" if rates else ""
    return (f"The learning rate was searched on held-out data for {_join([r.name for r in done])} only; "
            f"{names} trained at the rates the suite set{detail}, so their scores also reflect those picks.")


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
