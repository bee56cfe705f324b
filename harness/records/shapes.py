"""What the readers of a record rely on inside its free-form fields.

To the record schema (schema.py) `spec`, `method_info`, `search`, `templates`, `drift`
and a score's comparisons (vs_baseline...) are plain JSON: the worker writes what it learns, and records of older versions carry
less. The readers (the leaderboard, the gate's snapshots, comparisons, re-scoring) index
into parts of them, so a record read from disk is checked against these shapes: a file
edited by hand or damaged is then one unreadable record, said and skipped, never a crash
deep in a leaderboard. Only the parts a reader uses are typed, and any other key is
allowed. To read a new part of a free-form field, type it here first.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

# Strict: a number written as a string ("0.5") would pass lax validation and then meet
# arithmetic or a format spec in a reader.
_SHAPE = ConfigDict(extra="allow", strict=True)


class EvalShape(BaseModel):
    """spec.evals[i]: the resolved eval (harness/suite/schema.EvalSpec)."""

    model_config = _SHAPE
    name: str
    kind: str = "generation"
    metrics: list[str] = []
    metric_args: dict[str, Any] | None = None


class BudgetShape(BaseModel):
    """A stage's budget: as the suite set it (steps, tokens, seconds or flops) or as the run
    derived it (kind, amount and the figures behind it; harness/train/budget.py)."""

    model_config = _SHAPE
    kind: str | None = None
    amount: float | None = None
    steps: float | None = None
    tokens: float | None = None
    seconds: float | None = None
    flops: float | None = None
    tokens_per_step: float | None = None
    flops_per_token: float | None = None


class ReferenceShape(BaseModel):
    """method_info.stages[i].reference: a preference stage's reference model (harness/train/preference.py)."""

    model_config = _SHAPE
    kind: str | None = None
    bytes: int | None = None


class StageShape(BaseModel):
    """spec.stages[i] (a resolved TrainSpec) or method_info.stages[i] (what the stage ran)."""

    model_config = _SHAPE
    budget: BudgetShape | None = None
    learning_rate: float | None = None
    steps: int | None = None
    objective: str | None = None  # sft or dpo (older records: none, which is sft)
    loss_type: str | None = None
    beta: float | None = None
    reference: ReferenceShape | None = None


class SpecShape(BaseModel):
    model_config = _SHAPE
    evals: list[EvalShape] = []
    stages: list[StageShape] = []
    fingerprints: dict[str, str] = {}  # "DATA|SPLIT" -> content hash


class ShotsShape(BaseModel):
    """method_info.shots: an in-context baseline's examples, per eval how many each prompt kept."""

    model_config = _SHAPE
    evals: dict[str, Any] = {}


class MethodInfoShape(BaseModel):
    model_config = _SHAPE
    stages: list[StageShape] = []
    shots: ShotsShape | None = None


class SearchShape(BaseModel):
    """search: the learning rates tried (harness/run/search.py); a score is None where the run diverged."""

    model_config = _SHAPE
    values: list[float] = []
    scores: list[float | None] = []
    chosen: float | None = None
    seconds: float | None = None


class TemplatesShape(BaseModel):
    """templates[NAME]: an eval written with several templates, summed up across them."""

    model_config = _SHAPE
    evals: list[Any] = []
    prompts: list[Any] = []
    metrics: dict[str, Any] = {}


class DriftShape(BaseModel):
    model_config = _SHAPE
    value: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    n: int | None = None


class ComparisonShape(BaseModel):
    """A score's vs_baseline, vs_strongest_baseline, vs_best or across_seeds (harness/analysis/compare.py)."""

    model_config = _SHAPE
    delta: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    n: int | None = None
    mean: float | None = None
    std: float | None = None
    n_seeds: int | None = None


def check_shapes(spec: dict[str, Any], method_info: dict[str, Any], search: dict[str, Any],
                 templates: dict[str, dict[str, Any]], drift: dict[str, Any] | None,
                 comparisons: dict[str, Any]) -> None:
    """Raise ValueError naming the first place (spec.evals[0].metrics[1]) where a part a
    reader uses has another type. comparisons: {"metrics.EVAL.METRIC.vs_best": value, ...}."""
    parts: list[tuple[str, type[BaseModel], Any]] = [
        ("spec", SpecShape, spec), ("method_info", MethodInfoShape, method_info), ("search", SearchShape, search),
        *((f"templates.{name}", TemplatesShape, entry) for name, entry in templates.items()),
        *([("drift", DriftShape, drift)] if drift is not None else []),
        *((where, ComparisonShape, value) for where, value in comparisons.items()),
    ]
    for field, shape, value in parts:
        try:
            shape.model_validate(value)
        except ValidationError as err:
            first = err.errors()[0]
            where = field + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first["loc"])
            raise ValueError(f"{where}: {first['msg'][0].lower()}{first['msg'][1:]}") from None
