"""Which budget the comparison used, and the steps each variant ran, from the records.

A suite may fix a stage's training by tokens, FLOPs, wall-clock seconds or optimizer steps
(`train.budget`, harness/train/budget.py derives the steps per variant); without one, each
variant trains the steps it was given, which may differ between methods. Either way a
reader must know, since a method that does more per step wins a comparison at equal steps.
Per run: the stages' budgets (`method_info["stages"][i]["budget"]` as the run recorded it,
else the resolved spec's `stages[i]["budget"]`) and the steps actually run
(`method_info["stages"][i]["steps"]`, else the spec's). The answer's sentence (`sentence`)
says which budget every tuned variant shared, or that they did not share one; the training
table (`training_rows`) lists per variant its steps, budget and learning rate.
Imports no torch.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from harness.report import objectives, rate_search
from harness.report.table import Row, Run, Table

KINDS = ("tokens", "flops", "seconds", "steps")
Budget = tuple[str, float] | None  # (kind, amount) of one stage, None: no budget


def stage_budgets(run: Run) -> list[Budget]:
    """Each stage's budget, as recorded by the run, else as the spec set it."""
    info = [st for st in run.method_info.get("stages") or [] if isinstance(st, dict)]
    spec = [st for st in run.spec.get("stages") or [] if isinstance(st, dict)]
    out: list[Budget] = []
    for i in range(max(len(info), len(spec))):
        recorded = info[i].get("budget") if i < len(info) else None
        written = spec[i].get("budget") if i < len(spec) else None
        if isinstance(recorded, dict) and recorded.get("kind") in KINDS and recorded.get("amount") is not None:
            out.append((recorded["kind"], float(recorded["amount"])))
        elif isinstance(written, dict) and (given := [k for k in KINDS if written.get(k) is not None]):
            out.append((given[0], float(written[given[0]])))
        else:
            out.append(None)
    return out


def steps_run(run: Run) -> int | None:
    """Optimizer steps over all stages: as run, else as the spec set them."""
    for stages in (run.method_info.get("stages"), run.spec.get("stages")):
        steps = [st.get("steps") for st in stages or [] if isinstance(st, dict)]
        if steps and all(isinstance(s, int) for s in steps):
            return sum(s for s in steps if isinstance(s, int))
    return None


def scientific(value: float) -> str:
    """5.0e8: FLOPs run to many digits, of which two say enough."""
    mantissa, exponent = f"{value:.1e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def amount(kind: str, value: float) -> str:
    """'1,200 training tokens', '5.0e8 FLOPs', '300 s of wall-clock training time', '12 optimizer steps'."""
    if kind == "flops":
        return f"{scientific(value)} FLOPs"
    count = f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"
    return {"tokens": f"{count} training tokens", "seconds": f"{count} s of wall-clock training time"}.get(kind, f"{count} optimizer steps")


def steps_text(row: Row) -> str | None:
    """'12', or '10–12' when its seeds ran different counts (a time budget)."""
    steps = sorted({s for run in row.runs if run.status == "ok" and (s := steps_run(run)) is not None})
    if not steps:
        return None
    return str(steps[0]) if len(steps) == 1 else f"{steps[0]}–{steps[-1]}"


def _tuned(table: Table) -> list[Row]:
    """Tuned rows with an ok run whose record says how it trained (older records may not)."""
    return [r for r in table.rows if not r.is_baseline and any(
        run.status == "ok" and (run.spec.get("stages") or run.method_info.get("stages")) for run in r.runs)]


def _first(row: Row) -> Run:
    return next(run for run in row.runs if run.status == "ok" and (run.spec.get("stages") or run.method_info.get("stages")))


def _signature(row: Row) -> tuple[Budget, ...]:
    return tuple(stage_budgets(_first(row)))


def _described(signature: tuple[Budget, ...]) -> str:
    """A signature as a phrase: '1,200 training tokens', 'stage 1: ...; stage 2: ...'."""
    def one(budget: Budget) -> str:
        return amount(*budget) if budget else "its set optimizer steps"
    if len(signature) == 1:
        return one(signature[0])
    return "; ".join(f"stage {i}: {one(b)}" for i, b in enumerate(signature, 1))


def sentence(table: Table) -> str | None:
    """Which budget the comparison used, with the steps each variant ran where they differ."""
    tuned = _tuned(table)
    if not tuned:
        return None
    by_signature: dict[tuple[Budget, ...], list[Row]] = {}
    for row in tuned:
        by_signature.setdefault(_signature(row), []).append(row)
    steps = _steps_clause(tuned)
    if len(by_signature) > 1:
        groups = [f"{_join([r.name for r in rows])} {'without a budget' if not any(sig) else 'at ' + _described(sig)}"
                  for sig, rows in by_signature.items()]
        return (f"The variants trained under different budgets, so this is not an equal-budget comparison: "
                f"{'; '.join(groups)}" + (f" ({steps})." if steps else "."))
    signature = next(iter(by_signature))
    if not any(signature):  # no budget: the steps each variant was given
        if not steps:
            return "Compared at the optimizer steps each variant was given (no training budget was set)."
        if steps.endswith(" each"):
            return f"Compared at equal optimizer steps ({steps.removesuffix(' steps each')} per variant)."
        return f"Compared at the optimizer steps each variant was given, which differ: {steps}."
    if len(signature) == 1 and signature[0] is not None:
        kind, value = signature[0]
        what = {"tokens": "equal training tokens", "flops": "equal training FLOPs", "seconds": "equal wall-clock training time",
                "steps": "equal optimizer steps"}[kind]
        text = f"Compared at {what} ({_short(kind, value)} per variant"
        if kind == "steps" or not steps:
            return text + ")."
    else:
        text = f"Compared at equal budgets per stage ({_described(signature)}"
    return text + (f"; {steps})." if steps.endswith(" each") else f"): {steps}.")


def _short(kind: str, value: float) -> str:
    """The amount in a sentence's parentheses: '1,200', '5.0e8', '300 s'."""
    text = amount(kind, value)
    return {"tokens": text.removesuffix(" training tokens"), "flops": text.removesuffix(" FLOPs"),
            "seconds": text.removesuffix(" of wall-clock training time")}.get(kind, text.removesuffix(" optimizer steps"))


def _steps_clause(rows: list[Row]) -> str:
    """'prompt-tuning trained 24 steps, the others 12'; all equal: '12 steps each'; '' unknown."""
    named = [(r.name, text) for r in rows if (text := steps_text(r)) is not None]
    if not named or len(named) < len(rows):
        return ""
    counts = Counter(text for _, text in named)
    if len(counts) == 1:
        return f"{named[0][1]} steps each"
    (common, n), *rest = counts.most_common()
    if n > 1 and rest[0][1] < n:  # one count most variants share: name the others
        minority = [(name, text) for name, text in named if text != common]
        parts = [f"{minority[0][0]} trained {minority[0][1]} steps"] + [f"{name} {text}" for name, text in minority[1:]]
        return f"{_join(parts)}, the others {common}"
    parts = [f"{named[0][0]} trained {named[0][1]} steps"] + [f"{name} {text}" for name, text in named[1:]]
    return _join(parts)


def training_rows(table: Table) -> list[dict[str, Any]]:
    """Per tuned variant: steps run, its budget (with the figures behind it) and learning rate;
    what its stages optimised (harness/report/objectives.py) and whether one was a preference stage."""
    out = []
    for row in _tuned(table):
        run = _first(row)
        details = [st.get("budget") for st in run.method_info.get("stages") or [] if isinstance(st, dict)]
        budgets = []
        for i, budget in enumerate(stage_budgets(run)):
            if budget is None:
                budgets.append("–")
                continue
            found = details[i] if i < len(details) else None
            detail: dict[str, Any] = found if isinstance(found, dict) else {}
            per = [f"{detail['tokens_per_step']:,.0f} tokens per step"] if detail.get("tokens_per_step") else []
            per += [f"{scientific(detail['flops_per_token'])} FLOPs per token"] if detail.get("flops_per_token") else []
            budgets.append(amount(*budget) + (f" ({', '.join(per)})" if per else ""))
        out.append({"name": row.name, "row": row.key, "method": row.method, "steps": steps_text(row) or "–",
                    "budget": " then ".join(budgets) if budgets else "–", "rate": rate_search.rate_text(row),
                    "objective": objectives.objective_text(run), "preference": objectives.has_preference(run)})
    return out


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
