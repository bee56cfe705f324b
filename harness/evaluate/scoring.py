"""One eval on one model: its kind's evaluator (a registered eval kind: harness/catalog.py)
loads its examples, predicts, and scores every metric through `score`.

An evaluator returns the record's entry for the eval ({metric: score dict}) and one
prediction row per example (prompt, prediction, references, per-example scores) for
predictions/<eval>.jsonl. A kind that compares with the model as loaded (meta
before_tuning: preference evals) gets what `before_tuning` measured before tuning. References come from the eval's `references` column, else the
task's own references field (several per example), else the rendered completion.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.data.builtin import task
from harness.errors import HarnessError
from harness.registry import EVAL_KINDS, METRICS, load_target
from harness.suite.schema import EvalSpec


def references_of(ev: EvalSpec, row: dict[str, Any], completion: str, where: str) -> list[str]:
    field = ev.references
    if field is None and ev.data.startswith("builtin:"):
        field = task(ev.data[8:]).references_field
    if field is None:  # the rendered completion, without the space a template puts before it
        return [completion.strip()]
    if isinstance(field, list):  # one reference per column
        refs = [row.get(column) for column in field]
        bad = [(c, r) for c, r in zip(field, refs) if not isinstance(r, str)]
        if bad:
            raise HarnessError(f"{where}: reference column {bad[0][0]!r} must hold a string, got {bad[0][1]!r}")
        return [r for r in refs if isinstance(r, str)]
    value = row.get(field)
    refs = [value] if isinstance(value, str) else value
    if not isinstance(refs, list) or not refs or not all(isinstance(r, str) for r in refs):
        raise HarnessError(f"{where}: field {field!r} must hold a reference string or a non-empty list of them, got {value!r}")
    return refs


def before_tuning(model, tokenizer, ev: EvalSpec, base_dir: Path) -> Any:
    """What the eval's kind measures on the model as loaded (meta before_tuning), to be
    passed to `evaluate` as `before`; None for the kinds that need nothing of it. Call it
    before the method touches the model."""
    target = EVAL_KINDS.meta(ev.kind, "before_tuning")
    return load_target(target)(model, tokenizer, ev, base_dir) if target else None


def evaluate(model, tokenizer, ev: EvalSpec, base_dir: Path, shots: list[tuple[str, str]] | None = None,
             before: Any = None) -> tuple[dict[str, dict], list[dict]]:
    """Scores and per-example prediction rows for one eval, by its kind's registered evaluator;
    an in-context baseline's examples go to the kinds that take them (meta shots=True), and
    what `before_tuning` measured to the kinds that declare it."""
    kwargs: dict[str, Any] = {}
    if shots and EVAL_KINDS.meta(ev.kind, "shots"):
        kwargs["shots"] = shots
    if before is not None and EVAL_KINDS.meta(ev.kind, "before_tuning"):
        kwargs["before"] = before
    return EVAL_KINDS.load(ev.kind)(model, tokenizer, ev, base_dir, **kwargs)


def score(ev: EvalSpec, prompts: list[str], predictions: list[str], references: list[list[str]]) -> tuple[dict[str, dict], list[dict]]:
    """Every metric of the eval, and one row per example with its per-example scores."""
    scores: dict[str, dict] = {}
    per_example: dict[str, list[float] | None] = {}
    for metric in ev.metrics:
        # The bootstrap seed is fixed so intervals of different variants are comparable.
        result = METRICS.load(metric)(predictions, references, **ev.metric_args.get(metric, {}))
        scores[metric] = result.to_record()
        per_example[metric] = result.per_example
    rows_out = [
        {
            "id": i,
            "prompt": prompts[i],
            "prediction": predictions[i],
            "references": references[i],
            "scores": {m: (s[i] if s is not None else None) for m, s in per_example.items()},
        }
        for i in range(len(prompts))
    ]
    return scores, rows_out
