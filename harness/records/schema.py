"""The record: what one variant's record.json holds (schema version SCHEMA_VERSION).

A record is self-describing: the resolved spec, status, scores with their intervals, costs,
package versions, git commit and hardware. Writing and reading it is harness/records/store.py.
Imports no torch.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationInfo, model_validator

from harness.records.shapes import check_shapes

SCHEMA_VERSION = 1


class Score(BaseModel):
    """One metric on one eval. Anything more (a signature, p-values) rides along as extra.

    harness/analysis/compare.py adds four extras (COMPARISON_KEYS), rewritten whole on every run:
    vs_baseline, vs_strongest_baseline and vs_best = {"delta", "ci_low", "ci_high", "p_value",
    "test", "n"} (delta is this variant minus the other), and across_seeds = {"mean", "std",
    "n_seeds"} over the variants sharing this one's model and name. vs_baseline is against the
    model's zero-shot baseline (method "baseline", no `shots`); vs_strongest_baseline against
    the baseline (zero- or few-shot) that scores best on this metric, and names it as
    "baseline"; vs_best names the best variant as "best".
    """

    model_config = ConfigDict(extra="allow")
    value: float
    ci_low: float
    ci_high: float
    n: int


class Cost(BaseModel):
    trainable_params: int | None = None
    total_params: int | None = None
    peak_memory_bytes: int | None = None
    peak_memory_source: str | None = None  # "rss" (CPU, whole process) or "cuda" (allocated)
    # GPU memory the scheduler planned for (harness/run/memory.py, or resources.gpu_memory),
    # beside the measured peak so the estimate can be judged.
    memory_estimate_bytes: int | None = None
    memory_estimate_source: str | None = None  # "estimate" or "resources.gpu_memory"
    memory_estimate_parts: dict[str, int] = {}  # the estimate by part: weights, gradients, optimizer, activations...
    # What the measured peak held, by part: weights, gradients and optimizer counted from the
    # tensors after each stage's first step (harness/train/footprint.py; the largest over
    # stages); and, measured as peak_memory_bytes is, what the process held before the model
    # loaded (before_load: on a CPU the interpreter and libraries, part of every peak) and the
    # peaks of training and of evaluation alone (peak_train, peak_eval). A CPU's resident set
    # also keeps what the allocator does not hand back; a GPU's figure is torch's allocations.
    memory_parts: dict[str, int] = {}
    train_seconds: float | None = None
    eval_seconds: float | None = None
    tokens_per_second: float | None = None  # training tokens, padding excluded
    saved_bytes: int | None = None  # size on disk of the saved weights (adapters alone for adapter methods)
    # Model FLOPs of training (harness/train/flops.py; the count a flops budget sizes steps by):
    # per training token (a token-weighted mean over stages), in all, and per second of
    # training; flops_formula names the count and its figures, or why attention is left out.
    flops_per_token: float | None = None
    train_flops: float | None = None
    flops_per_second: float | None = None
    flops_formula: str | None = None
    # MFU = flops_per_second / peak_flops (0 to 1), the peak being the device's in the compute
    # dtype (times the processes that trained), with where it came from: "table: H100 bf16"
    # or "probe: <cpu> 2 threads bf16, measured <date>" (harness/run/peak.py).
    mfu: float | None = None
    peak_flops: float | None = None
    peak_source: str | None = None


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid")
    schema_version: int = SCHEMA_VERSION
    suite: str
    variant_id: str
    name: str
    model: str
    method: str  # "baseline" for the untuned model
    params: dict[str, Any]
    seed: int
    status: Literal["ok", "failed"]
    error: str | None = None
    log_tail: str | None = None  # failed only: the last lines of the variant's log.txt
    metrics: dict[str, dict[str, Score]] = {}  # eval name -> metric -> score
    cost: Cost = Cost()
    train_curve: list[tuple[int, float]] = []  # (step, loss), steps counted across stages
    validation_curve: list[dict[str, float]] = []  # {"step", "loss", metric...} from validation checks
    # Preference stages (objective dpo), per step on the training batches: {"step", "chosen_reward",
    # "rejected_reward", "margin", "accuracy"}, trl's rewards/* metrics (harness/train/preference.py)
    preference_curve: list[dict[str, int | float]] = []
    drift: dict[str, Any] | None = None  # the drift probe: {value, ci_low, ci_high, n, tokens}
    # eval name -> {"count", "n", "ids"}: eval examples also found in the training data
    contamination: dict[str, dict[str, Any]] = {}
    # generation evals: {eval: {"count", "n"}}, how many predictions are empty (a variant whose
    # answers are mostly empty is scored on its prompt format more than on what it can do)
    empty_predictions: dict[str, dict[str, int]] = {}
    # Evidence the method ran: 4-bit layer count, virtual tokens, trainable blocks,
    # parameter groups with their learning rates, events such as unfreezing.
    method_info: dict[str, Any] = {}
    # A learning-rate search before training (harness/run/search.py): {"param", "values",
    # "scores", "chosen", "metric", "higher_is_better", "data", "split", "limit", "steps",
    # "final_steps", "seconds"}; scores are None for a value whose run diverged.
    search: dict[str, Any] = {}
    # Evals written with several templates (template: [...]) are scored once per template, as
    # evals NAME@1, NAME@2...; here per NAME: {"evals": [NAME@1, ...], "prompts": [each
    # template's prompt], "metrics": {metric: {"mean", "std", "min", "max", "values"}}}, the
    # spread across templates being the prompt sensitivity.
    templates: dict[str, dict[str, Any]] = {}
    precision: str | None = None  # what training ran in (auto resolves per machine)
    # {"weights", "compute", "optimizer", "optimizer_state"}: the dtype each was held in
    # (compute: training's autocast; evaluation's is each score's eval_dtype).
    dtypes: dict[str, str] = {}
    # {"world_size", "strategy", "backend"}: the processes that trained it (strategy None: one).
    parallel: dict[str, Any] = {}
    env: dict[str, Any] = {}  # python, torch, transformers, peft, harness, git commit, device
    spec: dict[str, Any] = {}  # the fully resolved variant
    # Retention evals only (harness/analysis/compare.py): {eval: {metric: {"base", "tuned", "delta",
    # "ci_low", "ci_high", "p_value"}}}, the base being the baseline record's own score.
    forgetting: dict[str, dict[str, dict[str, float]]] = {}
    started_at: str | None = None
    finished_at: str | None = None

    @model_validator(mode="after")
    def _readable(self, info: ValidationInfo):
        # Read from disk (JSON), a record's free-form fields must hold what readers index into
        # (records/shapes.py), so a damaged one is skipped as unreadable. The worker's own
        # records (built in Python) are never refused over them: a run is not lost to a shape.
        if info.mode == "json":
            comparisons = {f"metrics.{ev}.{metric}.{key}": extra[key] for ev, scores in self.metrics.items()
                           for metric, score in scores.items() if (extra := score.model_extra or {})
                           for key in COMPARISON_KEYS if key in extra}
            check_shapes(self.spec, self.method_info, self.search, self.templates, self.drift, comparisons)
        return self


# The Score extras that harness/analysis/compare.py owns: dropped and recomputed together, so a
# comparison from an older set of variants never survives next to a newer one.
COMPARISON_KEYS = ("vs_baseline", "vs_best", "vs_strongest_baseline", "across_seeds")


def clear_comparisons(record: Record) -> None:
    """Remove every comparison field from a record (its scores' extras and `forgetting`)."""
    for scores in record.metrics.values():
        for score in scores.values():
            for key in COMPARISON_KEYS:
                (score.__pydantic_extra__ or {}).pop(key, None)
    record.forgetting = {}
