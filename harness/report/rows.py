"""The leaderboard's types: a Table of Rows (one per model and variant name, its seeds as
Runs) over Columns, each cell a Cell. harness/report/table.py builds them from the records;
every format and the modules that describe a comparison (answer, budgets, prompting,
sensitivity) read them. Imports no torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

ALPHA = 0.05  # significance level for "tied with the best"

# (field of Cost, header, unit, higher is better, what it is)
COSTS = [
    ("trainable_params", "trainable", "params", False, "parameters the method trains (share of the model in the tooltip)"),
    ("peak_memory_bytes", "peak memory", "bytes", False, "peak memory of the variant's process (CPU: resident set; GPU: allocated)"),
    ("train_seconds", "train time", "seconds", False, "wall-clock training time"),
    ("tokens_per_second", "tokens/s", "tokens/s", True, "training throughput, padding excluded"),
    ("train_flops", "train FLOPs", "flops", False,
     "model FLOPs of training: 4N + 2T per token for N parameters of which T train, plus attention (12·L·h·s)"),
    # FLOP/s stays in the records (train FLOPs over train time): MFU says what a reader wants of it
    ("mfu", "MFU", "fraction", True,
     "model FLOP utilisation: achieved FLOP/s over the device's peak in the compute dtype "
     "(a GPU: its data sheet; a CPU: measured by a matrix-multiply probe)"),
]


@dataclass
class Column:
    key: str  # unique: "metric:EVAL/METRIC", "templates:NAME/METRIC", "forgetting:EVAL/METRIC", "drift", "cost:FIELD"
    kind: Literal["metric", "templates", "forgetting", "drift", "cost"]
    group: str  # header over several columns: the eval's name, "forgetting" or "cost"
    label: str
    help: str
    higher_is_better: bool | None  # None: unknown direction, nothing marked best
    unit: str  # "0-1", "0-100" (a metric's scale), "delta", "nats", "params", "bytes", "seconds", "tokens/s",
    # "flops", "fraction" (shown as a percentage)
    eval: str | None = None
    metric: str | None = None
    retention: bool = False  # a metric of a retention eval: forgetting, not the task
    templates: int = 0  # a "templates" column: how many templates its mean is over


@dataclass
class Cell:
    value: float
    ci_low: float | None = None
    ci_high: float | None = None
    std: float | None = None  # across seeds, when the row has several
    n_seeds: int = 1
    n: int | None = None  # examples scored
    p_value: float | None = None  # forgetting: the paired test against the base model
    vs_baseline: dict[str, Any] | None = None  # one seed: the record's paired comparison
    vs_strongest_baseline: dict[str, Any] | None = None  # one seed: ... against the best-scoring baseline
    p_vs_best: float | None = None  # one seed: p of the paired test against the best run
    share: float | None = None  # trainable parameters: percent of the model
    best: bool = False
    tied: bool = False
    # a "templates" cell: the lowest and highest score across templates and each template's
    # (value is their mean, std their standard deviation; with seeds, each the mean over seeds)
    lowest: float | None = None
    highest: float | None = None
    per_template: list[float] | None = None


@dataclass
class Run:
    """One record: a seed of a variant."""

    variant_id: str
    seed: int
    status: str
    error: str | None
    cells: dict[str, Cell]
    train_curve: list[tuple[int, float]]
    contamination: dict[str, dict[str, Any]]
    empty_predictions: dict[str, dict[str, int]]
    started_at: str | None
    finished_at: str | None
    vs_best: dict[str, dict[str, Any]]  # column key -> the record's vs_best (p_value, best)
    env: dict[str, Any]
    # how it was trained and prompted, as the record says (harness/report/budgets.py, search.py
    # and prompting.py read them): the learning-rate search, method_info (steps and budget per
    # stage, in-context shots) and the resolved spec (budgets as written, evals' chat setting)
    search: dict[str, Any] = field(default_factory=dict)
    method_info: dict[str, Any] = field(default_factory=dict)
    spec: dict[str, Any] = field(default_factory=dict)
    # preference stages, per step on the training batches: {"step", "chosen_reward", "rejected_reward",
    # "margin", "accuracy"} (the record's preference_curve; charts.py draws margin and accuracy)
    preference_curve: list[dict[str, float]] = field(default_factory=list)


@dataclass
class Row:
    key: str  # "MODEL/NAME", unique in the table
    name: str
    model: str
    method: str
    params: dict[str, Any]
    runs: list[Run]
    cells: dict[str, Cell] = field(default_factory=dict)

    @property
    def is_baseline(self) -> bool:
        return self.method == "baseline"

    @property
    def shots(self) -> int:
        """A baseline's in-context examples per prompt (0: zero-shot)."""
        shots = self.params.get("shots") if self.is_baseline else None
        return shots if isinstance(shots, int) else 0

    @property
    def status(self) -> str:
        states = {r.status for r in self.runs}
        return states.pop() if len(states) == 1 else "partly failed"

    @property
    def seeds(self) -> list[int]:
        return [r.seed for r in self.runs]

    @property
    def errors(self) -> list[str]:
        return [f"seed {r.seed}: {r.error}" if len(self.runs) > 1 else str(r.error) for r in self.runs if r.status != "ok"]


@dataclass
class Table:
    suite: str
    suite_dir: str
    description: str
    models: list[str]
    columns: list[Column]
    rows: list[Row]
    primary: str | None  # the column rows are ranked by: the first metric
    notes: list[str]
    suite_text: str | None  # the suite file as written (results/<suite>/suite.yaml), if kept
    first_spec: dict[str, Any]  # the first record's resolved spec, for when the suite file was not kept
    # evals written with several templates: NAME -> {"evals", "prompts", "metrics"} (sensitivity.py)
    templates: dict[str, dict[str, Any]] = field(default_factory=dict)
    # records left out because they cannot be read, one note each (also among `notes`): the
    # CLI says them on stderr too, since CSV and JSON have no place for notes
    unread: list[str] = field(default_factory=list)

    def column(self, key: str) -> Column:
        return next(c for c in self.columns if c.key == key)
