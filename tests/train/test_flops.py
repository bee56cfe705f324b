"""The model FLOPs count (harness/train/flops.py) worked out by hand for tiny shapes, read from
the tiny model's config, and shared with a flops budget."""

from __future__ import annotations

from types import SimpleNamespace

from harness.models.tiny import tiny_random_llama
from harness.suite.schema import BudgetSpec, TrainSpec
from harness.train import budget, flops


def test_per_token_by_hand():
    # N = 1000 of which T = 10 train: 4 x 1000 + 2 x 10 = 4020 through the weights;
    # attention, L = 2 layers of h = 64 over s = 15 tokens: 12 x 2 x 64 x 15 = 23040
    assert flops.per_token(1000, 10, (2, 64), 15.0) == 4020 + 23040
    # full training: 6N, plus PaLM's 12 L h s
    assert flops.per_token(1000, 1000, (2, 64), 15.0) == 6000 + 23040
    # unknown shape or length: no attention term
    assert flops.per_token(1000, 10) == flops.per_token(1000, 10, None, 15.0) == flops.per_token(1000, 10, (2, 64)) == 4020


def test_the_shape_comes_from_the_config_or_is_unknown():
    model, _ = tiny_random_llama()
    assert flops.shape(model) == (2, 64)
    assert flops.shape(SimpleNamespace(base=model)) == (2, 64)  # a probe's head over its base
    assert flops.shape(SimpleNamespace(config=SimpleNamespace(n_layer=2))) is None
    assert flops.shape(object()) is None
    assert flops.describe((2, 64), 15.04) == "4N + 2T + 12·L·h·s (L=2, h=64, s=15.0)"
    assert flops.describe(None, 15.0).startswith("4N + 2T (no attention term")


def test_a_flops_budget_counts_attention_too():
    cfg = TrainSpec(batch_size=2, grad_accum=3, budget=BudgetSpec(flops=(6000 + 23040) * 90 * 7))
    lengths = [([10, 20], 1.0)]  # mean 15 tokens, 90 a step
    derived = budget.derive(cfg, lengths, 1000, 1000, (2, 64))
    assert derived.flops_per_token == flops.per_token(1000, 1000, (2, 64), 15.0)
    assert derived.steps == 7
