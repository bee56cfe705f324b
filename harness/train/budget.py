"""Equal budgets: how many optimizer steps a stage takes when the suite fixes tokens, FLOPs
or seconds instead of steps (`train: {budget: {tokens: 200000}}`).

A comparison at equal steps favours whatever does more per step; at equal tokens, FLOPs or
wall-clock time each method gets the same amount of the resource, and the step count is
derived per variant from what it reads and what it trains:

- tokens: steps = tokens / tokens per step, a step being batch_size x grad_accum examples
  of the stage's mean length (padding excluded, prompts included, a mixture's sources
  weighted by their share), as the loop counts them;
- flops: steps = flops / (FLOPs per token x tokens per step), FLOPs per token being
  train/flops.py's count, the one a record's cost reports too: 4N + 2T for N parameters of
  which T train, plus attention (12 L h s, s the stage's mean example length) when the
  model's config gives its layers and hidden size;
- seconds: not known ahead; the loop trains until the time is spent (train/loop.py) and the
  schedule follows the time instead of the steps.

Derived counts are rounded to the nearest step (at least one) and recorded with the figures
they came from, so the leaderboard can say which budget the comparison used.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from harness.errors import HarnessError
from harness.suite.schema import TrainSpec
from harness.train import flops


@dataclass(frozen=True)
class Derived:
    kind: str  # steps | tokens | seconds | flops
    amount: float
    steps: int | None  # None for seconds: the loop finds out
    tokens_per_step: float
    flops_per_token: float | None = None

    def record(self) -> dict:
        return {k: (round(v, 1) if isinstance(v, float) else v) for k, v in asdict(self).items() if v is not None}


def length(example: dict) -> int:
    """An example's tokens: its sequence's, or a preference pair's two sequences' together."""
    if "input_ids" in example:
        return len(example["input_ids"])
    return sum(len(example[k]["input_ids"]) for k in ("chosen", "rejected"))


def lengths(sources) -> list[tuple[list[int], float]]:
    """Each source's example lengths in tokens, with its mixture weight: what a budget sizes by."""
    return [([length(e) for e in src.examples], src.weight) for src in sources]


def tokens_per_step(cfg: TrainSpec, lengths: list[tuple[list[int], float]]) -> float:
    """Expected tokens of one optimizer step: (example lengths, weight) per source."""
    total = sum(w for ls, w in lengths if ls)
    if not total:
        raise HarnessError("the stage has no training examples to size a budget by")
    mean = sum(w / total * (sum(ls) / len(ls)) for ls, w in lengths if ls)
    return mean * cfg.batch_size * cfg.grad_accum


def derive(cfg: TrainSpec, lengths: list[tuple[list[int], float]], total_params: int | None = None,
           trainable_params: int | None = None, shape: tuple[int, int] | None = None) -> Derived | None:
    """The stage's budget turned into steps; None without a budget (cfg.steps as written).
    A flops budget needs the parameter counts; `shape` (layers, hidden: flops.shape(model))
    adds attention to its count."""
    budget = cfg.budget
    if budget is None:
        return None
    per_step = tokens_per_step(cfg, lengths)
    if budget.kind == "steps":
        return Derived("steps", budget.amount, int(budget.amount), per_step)
    if budget.kind == "seconds":
        return Derived("seconds", budget.amount, None, per_step)
    if budget.kind == "tokens":
        return Derived("tokens", budget.amount, max(1, round(budget.amount / per_step)), per_step)
    if total_params is None or trainable_params is None:
        raise ValueError("a flops budget needs the parameter counts")
    per_token = flops.per_token(total_params, trainable_params, shape, per_step / (cfg.batch_size * cfg.grad_accum))
    return Derived("flops", budget.amount, max(1, round(budget.amount / (per_token * per_step))), per_step, per_token)
