"""Preference metrics: does a model rank the preferred answer of each pair above the other,
and by how much, on its own and relative to the model every variant started from.

Every answer of a pair was scored by the summed log-probability of its tokens after the
prompt (harness/evaluate/preference.py), under the model evaluated (pi) and, for the reward
metrics, under the suite's model as loaded (pi_0). All in nats:

- preference_accuracy: the share of pairs with log pi(chosen) > log pi(rejected) (a tie
  counts as wrong; it is the row's `prediction`). Defined for every model, the untuned one
  included, so it is paired with McNemar's test against the baseline.
- logprob_margin: the mean of log pi(chosen) - log pi(rejected).
- reward_accuracy: with DPO's implicit reward r(y) = log pi(y|x) - log pi_0(y|x) (beta = 1,
  so every variant is measured alike whatever beta it trained with), the share of pairs
  whose chosen reward exceeds the rejected's, a tie counting one half: pi_0 itself scores
  exactly 0.5, which is where "no preference learned" sits.
- reward_margin: the mean of r(chosen) - r(rejected); its extras hold the mean reward of
  each side (trl's rewards/chosen and rewards/rejected, at beta 1), which show whether a
  margin grew by raising the chosen answers or by pushing both down.

The functions take what the prediction rows hold: `predictions` ("chosen" or "rejected"),
`references` (["chosen"]) and, as keyword arguments named after the rows' columns,
`chosen_logps` and `rejected_logps` (columns chosen_logp, rejected_logp) and
`ref_chosen_logps`, `ref_rejected_logps` (the untuned model's, columns ref_chosen_logp and
ref_rejected_logp). `harness score` (harness/analysis/rescore.py) binds them by these names;
rows without the ref columns leave a reward metric unscored there, with a note.
`score_preferences(rows)` does the same for callers holding rows. Imports no torch.

To add a metric: a function with the same shape, registered in harness/catalog.py with
kind "preference".
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from harness.errors import HarnessError
from harness.metrics.gold import gold_values
from harness.metrics.stats import CONFIDENCE, MetricResult, mean_ci

OUTCOMES = ("chosen", "rejected")
REF_COLUMNS = ("ref_chosen_logp", "ref_rejected_logp")


def preference_accuracy(predictions: list[str], references: list[list[str]], *, confidence: float = CONFIDENCE,
                        seed: int = 0) -> MetricResult:
    """Share of pairs whose preferred answer is the more likely one under the model."""
    gold = _gold(predictions, references)
    return _result([float(str(p) == g) for p, g in zip(predictions, gold)], confidence, seed)


def logprob_margin(predictions: list[str], references: list[list[str]], *, chosen_logps: Sequence[float],
                   rejected_logps: Sequence[float], confidence: float = CONFIDENCE, seed: int = 0) -> MetricResult:
    """Mean of log pi(chosen) - log pi(rejected), in nats."""
    chosen, rejected = _numbers(len(_gold(predictions, references)), chosen_logps=chosen_logps, rejected_logps=rejected_logps)
    return _result((chosen - rejected).tolist(), confidence, seed)


def reward_accuracy(predictions: list[str], references: list[list[str]], *, chosen_logps: Sequence[float],
                    rejected_logps: Sequence[float], ref_chosen_logps: Sequence[float], ref_rejected_logps: Sequence[float],
                    confidence: float = CONFIDENCE, seed: int = 0) -> MetricResult:
    """Share of pairs whose chosen answer gained more log-probability against the untuned
    model than the rejected one (a tie: one half)."""
    chosen, rejected = _rewards(predictions, references, chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps)
    # Exact comparison on purpose: the untuned model's rewards are exactly 0 on both sides.
    per_example = np.where(chosen > rejected, 1.0, np.where(chosen == rejected, 0.5, 0.0))
    return _result(per_example.tolist(), confidence, seed)


def reward_margin(predictions: list[str], references: list[list[str]], *, chosen_logps: Sequence[float],
                  rejected_logps: Sequence[float], ref_chosen_logps: Sequence[float], ref_rejected_logps: Sequence[float],
                  confidence: float = CONFIDENCE, seed: int = 0) -> MetricResult:
    """Mean of r(chosen) - r(rejected), r the log-ratio against the untuned model, in nats."""
    chosen, rejected = _rewards(predictions, references, chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps)
    extra = {"chosen_reward": float(chosen.mean()), "rejected_reward": float(rejected.mean())}
    return _result((chosen - rejected).tolist(), confidence, seed, extra)


METRICS: dict[str, Callable[..., MetricResult]] = {
    "preference_accuracy": preference_accuracy, "logprob_margin": logprob_margin,
    "reward_accuracy": reward_accuracy, "reward_margin": reward_margin,
}


def score_preferences(rows: list[dict[str, Any]], metrics: Sequence[str] = tuple(METRICS), *,
                      metric_args: dict[str, dict[str, Any]] | None = None) -> dict[str, MetricResult]:
    """Every named metric from saved prediction rows (prediction, references, chosen_logp,
    rejected_logp and, for the reward metrics, ref_chosen_logp and ref_rejected_logp): what
    `harness score` needs for a preference eval."""
    if not rows:
        raise HarnessError("no prediction rows to score")
    unknown = [name for name in metrics if name not in METRICS]
    if unknown:
        raise HarnessError(f"{unknown[0]!r} is not a preference metric; known: {', '.join(METRICS)}")
    for i, row in enumerate(rows, start=1):
        missing = [c for c in ("prediction", "references", "chosen_logp", "rejected_logp") if c not in row]
        if missing:
            raise HarnessError(f"prediction row {i}: no {', '.join(missing)}; rerun the eval to store them")
    rewards = [name for name in metrics if name.startswith("reward_")]
    lacking = next((i for i, row in enumerate(rows, start=1) if any(c not in row for c in REF_COLUMNS)), None)
    if rewards and lacking is not None:
        raise HarnessError(f"{rewards[0]} compares with the untuned model's log-probabilities ({', '.join(REF_COLUMNS)}), "
                           f"which prediction row {lacking} lacks: rerun the eval (the model as loaded is scored "
                           "before tuning), or leave the reward metrics out")
    columns: dict[str, list] = {
        "predictions": [row["prediction"] for row in rows],
        "references": [row["references"] for row in rows],
        "chosen_logps": [row["chosen_logp"] for row in rows],
        "rejected_logps": [row["rejected_logp"] for row in rows],
    }
    if lacking is None:
        columns |= {"ref_chosen_logps": [row["ref_chosen_logp"] for row in rows],
                    "ref_rejected_logps": [row["ref_rejected_logp"] for row in rows]}
    out = {}
    for name in metrics:
        fn = METRICS[name]
        wanted = inspect.signature(fn).parameters
        out[name] = fn(**{k: v for k, v in columns.items() if k in wanted}, **(metric_args or {}).get(name, {}))
    return out


def _gold(predictions: list[str], references: list[list[str]]) -> list[str]:
    return gold_values(predictions, references, "pairs", allowed=set(OUTCOMES),
                       hint='the gold answer of a pair is ["chosen"] (or ["rejected"])')


def _numbers(n: int, **columns: Sequence[float]) -> list[np.ndarray]:
    """Each column as floats, after checking it has one finite number per pair."""
    out = []
    for name, values in columns.items():
        if len(values) != n:
            raise HarnessError(f"{name} has {len(values)} values for {n} pairs: need one per pair")
        for i, value in enumerate(values, start=1):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise HarnessError(f"pair {i}: {name} is {value!r}, not a finite log-probability")
        out.append(np.asarray(values, dtype=np.float64))
    return out


def _rewards(predictions, references, chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps
             ) -> tuple[np.ndarray, np.ndarray]:
    """(r(chosen), r(rejected)) per pair: the log-ratios against the untuned model."""
    chosen, rejected, ref_chosen, ref_rejected = _numbers(
        len(_gold(predictions, references)), chosen_logps=chosen_logps, rejected_logps=rejected_logps,
        ref_chosen_logps=ref_chosen_logps, ref_rejected_logps=ref_rejected_logps)
    return chosen - ref_chosen, rejected - ref_rejected


def _result(per_example: list[float], confidence: float, seed: int, extra: dict[str, Any] | None = None) -> MetricResult:
    value, low, high = mean_ci(per_example, confidence=confidence, seed=seed)
    return MetricResult(value, low, high, len(per_example), per_example, extra or {}, confidence)
