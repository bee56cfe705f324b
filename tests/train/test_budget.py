"""Equal budgets: step counts derived from tokens and FLOPs (worked out by hand), a time
budget that trains until its seconds are spent, and a real run (the CLI on the built-in
tiny model, in-process on the CPU) whose records say what each method got."""

from __future__ import annotations

import math
import time

import pytest
from conftest import fit

from harness.methods.base import ApplyContext
from harness.models.tiny import tiny_random_llama
from harness.registry import METHODS
from harness.suite.schema import BudgetSpec, TrainSpec
from harness.train import budget
from harness.train.loop import _Clock


def spec(**budget_args) -> TrainSpec:
    return TrainSpec(batch_size=2, grad_accum=3, budget=BudgetSpec(**budget_args))


def test_a_budget_names_one_resource():
    with pytest.raises(ValueError, match="one of steps, tokens"):
        BudgetSpec(tokens=10, seconds=5)
    with pytest.raises(ValueError, match="one of steps, tokens"):
        BudgetSpec()


def test_tokens_and_flops_become_steps():
    lengths = [([10, 20], 1.0)]  # mean 15 tokens; a step is 2 x 3 examples: 90 tokens
    d = budget.derive(spec(tokens=900), lengths)
    assert (d.steps, d.tokens_per_step) == (10, 90.0)
    assert budget.derive(spec(tokens=10), lengths).steps == 1  # never below one step
    # a mixture: sources weighted by their share (3:1), 0.75 x 10 + 0.25 x 30 = 15
    assert budget.derive(spec(tokens=900), [([10], 3.0), ([30, 30], 1.0)]).tokens_per_step == 90.0
    # flops: 4N + 2T per token; N = 1000, T = 1000 (full): 6000 x 90 per step
    assert budget.derive(spec(flops=6000 * 90 * 7), lengths, 1000, 1000).steps == 7
    # an adapter training 10 of them: 4010 per token, so more steps for the same FLOPs
    assert budget.derive(spec(flops=6000 * 90 * 7), lengths, 1000, 10).steps == round(6000 * 7 / 4020)
    assert budget.derive(spec(seconds=3), lengths).steps is None
    assert budget.derive(TrainSpec(), lengths) is None


def test_a_time_budget_trains_until_the_time_is_spent():
    model, tok = tiny_random_llama()
    applied = METHODS.load("full").apply(model, METHODS.load("full").parse({}), ApplyContext(steps=1))
    cfg = TrainSpec(batch_size=2, max_length=64, precision="fp32", learning_rate=1e-3, budget=BudgetSpec(seconds=1.5))
    pairs = [(f"record {i}\n", f"sentence {i}") for i in range(8)]
    result = fit(applied, tok, pairs, cfg)
    assert result.steps == len(result.loss_curve) > 1
    assert result.seconds >= 1.5


def test_a_time_budgets_schedule_follows_the_time_spent():
    clock = _Clock(10.0)
    clock.begun = time.perf_counter() - 2.5  # a quarter of the time spent
    assert clock.rate(5, TrainSpec(schedule="linear")) == pytest.approx(0.75, abs=0.01)
    assert clock.rate(5, TrainSpec(schedule="cosine")) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)), abs=0.01)
    assert clock.rate(1, TrainSpec(schedule="linear", warmup_steps=4)) == 0.5  # warmup still counts steps
    with clock.paused():
        time.sleep(0.2)  # a validation check: not training time
    assert clock.elapsed() == pytest.approx(2.5, abs=0.1)
