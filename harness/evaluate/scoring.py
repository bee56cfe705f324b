"""One eval on one model: load its examples, generate (or classify), score every metric.

Returns the record's entry for the eval ({metric: score dict}) and one prediction row per
example (prompt, prediction, references, per-example scores) for predictions/<eval>.jsonl.
References come from the eval's `references` column, else the task's own references
field (several per example), else the rendered completion.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.data import sources
from harness.data.builtin import BUILTIN_TASKS
from harness.data.templates import Template, render
from harness.errors import HarnessError
from harness.evaluate import classify
from harness.evaluate.generation import generate
from harness.registry import METRICS
from harness.spec import EvalSpec


def references_of(ev: EvalSpec, row: dict[str, Any], completion: str, where: str) -> list[str]:
    field = ev.references
    if field is None and ev.data.startswith("builtin:"):
        field = BUILTIN_TASKS[ev.data[8:]].references_field
    if field is None:  # the rendered completion, without the space a template puts before it
        return [completion.strip()]
    value = row.get(field)
    refs = [value] if isinstance(value, str) else value
    if not isinstance(refs, list) or not refs or not all(isinstance(r, str) for r in refs):
        raise HarnessError(f"{where}: field {field!r} must hold a reference string or a non-empty list of them, got {value!r}")
    return refs


def evaluate(model, tokenizer, ev: EvalSpec, base_dir: Path) -> tuple[dict[str, dict], list[dict]]:
    """Scores and per-example prediction rows for one eval of any kind."""
    if ev.kind == "multiple_choice":
        from harness.evaluate import multiple_choice

        return multiple_choice.evaluate(model, tokenizer, ev, base_dir)
    if ev.kind == "lm_eval":
        from harness.evaluate import lm_eval_bridge  # imports lm-eval, slow: only when asked for

        return lm_eval_bridge.evaluate(model, tokenizer, ev, base_dir)
    if ev.kind == "classification":
        prompts, predictions, gold, how = classify.predict(model, tokenizer, ev, base_dir)
        scores, rows = score(ev, prompts, predictions, [[g] for g in gold])
        for entry in scores.values():
            entry["predicted_by"] = how
        return scores, rows
    rows = sources.map_columns(sources.load_split(ev.data, ev.split, base_dir, limit=ev.limit), ev.columns, ev.data)
    template = Template(ev.template.prompt, ev.template.completion)
    prompts, references = [], []
    for i, row in enumerate(rows):
        where = f"{ev.data} ({ev.split}) row {i + 1}"
        prompt, completion = render(template, row, where=where)
        prompts.append(prompt)
        references.append(references_of(ev, row, completion, where))

    predictions = generate(model, tokenizer, prompts, ev.max_new_tokens, ev.stop, ev.batch_size,
                           desc=f"eval {ev.name}", chat=bool(ev.chat))
    # Surrounding whitespace is not part of an answer (" 42" after "Answer:" is 42).
    predictions = [p.strip() for p in predictions]
    return score(ev, prompts, predictions, references)


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
