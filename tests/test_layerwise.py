"""freeze, ulmfit and the ULMFiT options, checked on the tiny Llama against the paper's formulas."""

from __future__ import annotations

import pytest
import torch
from conftest import fit

from harness.errors import HarnessError
from harness.methods.base import ApplyContext
from harness.methods.layerwise import discriminative_scales, stlr_lambda, unfreezing_plan
from harness.models.tiny import tiny_random_llama
from harness.registry import METHODS
from harness.suite.schema import TrainSpec

PAIRS = [("name[Alpha] | food[Thai]\n", "Alpha serves Thai food."), ("name[Beta] | area[riverside]\n", "Beta is by the river.")] * 4


def run(method: str, params: dict, steps: int = 4, lr: float = 1e-2):
    model, tok = tiny_random_llama()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    m = METHODS.load(method)
    applied = m.apply(model, m.parse(params), ApplyContext(steps=steps))
    result = fit(applied, tok, PAIRS, TrainSpec(steps=steps, batch_size=2, learning_rate=lr, precision="fp32"), seed=0)
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    return applied, result, changed


def test_discriminative_rates_divide_by_the_factor_per_group():
    assert discriminative_scales(4, 2.6) == pytest.approx([2.6**-3, 2.6**-2, 2.6**-1, 1.0])
    applied, result, _ = run("full", {"discriminative": 2.6}, steps=1)
    lrs = {g["group"]: g["learning_rate"] for g in result.groups}
    # the top group (head) at the suite's rate, each lower group 2.6 times lower
    assert lrs == pytest.approx({"head": 1e-2, "block 1": 1e-2 / 2.6, "block 0": 1e-2 / 2.6**2, "embeddings": 1e-2 / 2.6**3})


def test_slanted_triangular_matches_equation_3():
    # T=100, cut_frac=0.1, ratio=32: cut=10; p = t/cut before the cut, then 1 - (t-cut)/(cut*(1/cut_frac-1))
    f = stlr_lambda(100, 0.1, 32)
    assert f(0) == pytest.approx(1 / 32)
    assert f(5) == pytest.approx((1 + 0.5 * 31) / 32)
    assert f(10) == pytest.approx(1.0)
    assert f(55) == pytest.approx((1 + 0.5 * 31) / 32)
    assert f(100) == pytest.approx(1 / 32)
    # and the optimizer really follows it: the rate used at step t+1 is peak * f(t)
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=0.4)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, f)
    seen = []
    for _ in range(12):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert seen == pytest.approx([0.4 * f(t) for t in range(12)])


def test_gradual_unfreezing_happens_at_the_planned_steps():
    assert unfreezing_plan(4, 8, None) == [1, 3, 5, 7]
    params = {"discriminative": None, "slanted_triangular": None, "unfreeze_every": 2}
    applied, result, changed = run("ulmfit", params, steps=4)
    assert result.events == [(1, "unfroze head"), (3, "unfroze block 1")]
    assert applied.info["unfreezing"][:2] == [{"from_step": 1, "group": "head"}, {"from_step": 3, "group": "block 1"}]
    assert any(n.startswith("model.layers.1.") for n in changed) and "lm_head.weight" in changed
    assert not any(n.startswith("model.layers.0.") or n.startswith("model.embed") for n in changed)


def test_ulmfit_defaults_turn_on_all_three():
    applied, result, changed = run("ulmfit", {}, steps=8)
    from harness.methods.base import count_parameters

    later = [p for g in applied.param_groups for p in g.params]
    assert count_parameters(applied.model, later) == (107_200, 107_200)  # but every weight trains in the end
    assert applied.info["discriminative_factor"] == 2.6
    assert applied.info["slanted_triangular"] == {"cut_frac": 0.1, "ratio": 32}
    assert [e[1] for e in result.events] == ["unfroze head", "unfroze block 1", "unfroze block 0", "unfroze embeddings"]
    assert "model.embed_tokens.weight" in changed  # the last group trained in the last stage


def test_freeze_top_blocks_changes_only_those():
    applied, _, changed = run("freeze", {"top_blocks": 1})
    assert applied.info["trainable_groups"] == ["block 1", "head"] and applied.info["frozen_blocks"] == 1
    assert changed and all(n.startswith("model.layers.1.") or n in ("model.norm.weight", "lm_head.weight") for n in changed)
    assert any(n.startswith("model.layers.1.") for n in changed)


def test_freeze_patterns_and_norms():
    _, _, changed = run("freeze", {"patterns": ["*.mlp.*"]})
    assert changed == {f"model.layers.{i}.mlp.{m}_proj.weight" for i in (0, 1) for m in ("gate", "up", "down")}
    _, _, changed = run("freeze", {"top_blocks": 1, "train_head": False, "train_norms": True})
    assert "model.layers.0.input_layernorm.weight" in changed and "lm_head.weight" not in changed


def test_freeze_bad_choices():
    m = METHODS.load("freeze")
    assert any("not both" in p.message for p in m.validate({"top_blocks": 1, "patterns": ["x"]}))
    model, _ = tiny_random_llama()
    with pytest.raises(HarnessError, match="has 2 blocks"):
        m.apply(model, m.parse({"top_blocks": 3}), ApplyContext(steps=1))
    with pytest.raises(HarnessError, match="match no parameter"):
        m.apply(model, m.parse({"patterns": ["*.nothing.*"]}), ApplyContext(steps=1))
