"""Bottleneck adapters on the tiny random Llama (and a tiny GPT-2): the model starts as the
base, trains only the adapters, and generates."""

from __future__ import annotations

import pickle

import pytest
import torch
from conftest import fit

from harness.errors import HarnessError
from harness.evaluate.generation import generate
from harness.methods.base import ApplyContext, count_parameters
from harness.models.tiny import tiny_random_llama
from harness.registry import METHODS
from harness.suite.schema import TrainSpec

PAIRS = [("name[Alpha] | food[Thai]\n", "Alpha serves Thai food."), ("name[Beta] | area[riverside]\n", "Beta is by the river.")] * 4
TEXTS = ["name[Alpha] | food[Thai]\n", "a\n", "name[Beta] | area[riverside] | priceRange[cheap]\n"]


def adapted(model, params: dict | None = None):
    method = METHODS.load("adapter")
    return method.apply(model, method.parse(params or {}), ApplyContext())


def per_adapter(hidden: int, b: int) -> int:
    return hidden * b + b + b * hidden + hidden  # down weight + bias, up weight + bias


def test_starts_exactly_as_the_base_model():
    model, tok = tiny_random_llama()
    enc = tok(TEXTS, return_tensors="pt", padding=True)
    with torch.no_grad():
        before = model(**enc).logits
        applied = adapted(model, {"dropout": 0.5})
        after = applied.model(**enc).logits
    assert torch.equal(before, after)
    assert not any(m.training for m in applied.model.modules())  # the model was in eval mode: dropout stays off


@pytest.mark.parametrize("params, count, bottleneck", [
    ({}, 4, 16),  # Houlsby: after attention and MLP, 2 blocks
    ({"where": ["mlp"], "bottleneck": 4}, 2, 4),  # Pfeiffer
    ({"reduction_factor": 8}, 4, 8),  # hidden 64 / 8
])
def test_counts_and_info(params, count, bottleneck):
    model, _ = tiny_random_llama()
    applied = adapted(model, params)
    assert applied.info == {"adapters": count, "bottleneck": bottleneck, "where": params.get("where", ["attn", "mlp"])}
    assert count_parameters(applied.model) == (count * per_adapter(64, bottleneck), 107_200 + count * per_adapter(64, bottleneck))


def test_trains_only_the_adapters_and_generates():
    model, tok = tiny_random_llama()
    base = {n: p.detach().clone() for n, p in model.named_parameters()}
    plain = generate(model, tok, TEXTS, max_new_tokens=8, stop=[], batch_size=3)
    applied = adapted(model, {"nonlinearity": "gelu"})
    adapters = {n: p.detach().clone() for n, p in applied.model.named_parameters() if p.requires_grad}
    assert adapters and all(".adapter." in n for n in adapters)
    cfg = TrainSpec(steps=8, batch_size=4, learning_rate=1e-2, precision="fp32", schedule="constant")
    curve = fit(applied, tok, PAIRS, cfg).loss_curve
    assert curve[-1][1] < curve[0][1], curve
    after = dict(applied.model.named_parameters())
    for name, before in base.items():  # the base weights sit one level down, under .sublayer
        moved = name.replace(".self_attn.", ".self_attn.sublayer.").replace(".mlp.", ".mlp.sublayer.")
        assert torch.equal(after[moved], before), name
    for name, before in adapters.items():
        assert not torch.equal(after[name], before), name
    batched = generate(applied.model, tok, TEXTS, max_new_tokens=8, stop=[], batch_size=3)
    assert batched == [generate(applied.model, tok, [t], max_new_tokens=8, stop=[], batch_size=1)[0] for t in TEXTS]
    assert batched != plain


def test_wrapped_sublayers_keep_their_attributes_and_pickle():
    model, _ = tiny_random_llama()
    model = adapted(model).model
    attn = model.model.layers[1].self_attn
    assert attn.layer_idx == 1  # read through the wrapper from the attention module
    restored = pickle.loads(pickle.dumps(model))
    assert torch.equal(restored.model.layers[1].mlp.adapter.down.weight, model.model.layers[1].mlp.adapter.down.weight)


def test_gpt2_blocks_are_found():
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=32, n_head=2, vocab_size=50, n_positions=64)).eval()
    ids = torch.tensor([[1, 2, 3, 4]])
    with torch.no_grad():
        before = model(input_ids=ids).logits
        applied = adapted(model, {"bottleneck": 8})
        assert torch.equal(applied.model(input_ids=ids).logits, before)
    assert applied.info["adapters"] == 4 and count_parameters(model)[0] == 4 * per_adapter(32, 8)


def test_unknown_architecture_is_named():
    model = torch.nn.Sequential(torch.nn.ModuleList([torch.nn.Linear(4, 4) for _ in range(3)]))
    model.config = type("Config", (), {"hidden_size": 4})()
    with pytest.raises(HarnessError, match="Linear: no attn sublayer"):
        adapted(model)


def test_bad_params_are_reported():
    problems = METHODS.load("adapter").validate({"bottleneck": 8, "reduction_factor": 4})
    assert len(problems) == 1 and "not both" in problems[0].message
    assert [p.path for p in METHODS.load("adapter").validate({"where": ["ffn"]})] == ["where.0"]
