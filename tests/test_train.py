"""The training loop and the methods on the tiny random Llama."""

from __future__ import annotations

import torch
from conftest import fit

from harness.methods.base import ApplyContext, count_parameters
from harness.models.tiny import tiny_random_llama
from harness.registry import METHODS
from harness.suite.schema import TrainSpec
from harness.train.batches import IGNORE, collate, encode

PAIRS = [("name[Alpha] | food[Thai]\n", "Alpha serves Thai food."), ("name[Beta] | area[riverside]\n", "Beta is by the river.")] * 4


def test_encode_masks_the_prompt_and_ends_with_eos():
    _, tok = tiny_random_llama()
    e = encode(tok, "ab\n", "cd", max_length=64)
    # byte-level: BOS + 3 prompt bytes, then 2 completion bytes + EOS
    assert len(e["input_ids"]) == 1 + 3 + 2 + 1
    assert e["labels"][:4] == [IGNORE] * 4
    assert e["labels"][4:] == e["input_ids"][4:] and e["input_ids"][-1] == tok.eos_token_id
    assert encode(tok, "a" * 10, "b", max_length=5) is None  # nothing of the completion fits


def test_collate_pads_right_and_masks_padding():
    batch = collate([{"input_ids": [5, 6, 7], "labels": [IGNORE, 6, 7]}, {"input_ids": [8], "labels": [8]}], pad_id=0)
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["labels"].tolist() == [[IGNORE, 6, 7], [8, IGNORE, IGNORE]]


def test_full_fine_tuning_lowers_the_loss():
    model, tok = tiny_random_llama()
    applied = METHODS.load("full").apply(model, METHODS.load("full").parse({}), ApplyContext())
    cfg = TrainSpec(steps=30, batch_size=4, learning_rate=3e-3, precision="fp32", schedule="constant")
    result = fit(applied, tok, PAIRS, cfg, seed=0)
    first, last = result.loss_curve[0][1], result.loss_curve[-1][1]
    assert last < 0.7 * first, result.loss_curve
    assert result.tokens > 0 and result.precision == "fp32"


def test_training_is_repeatable_with_a_seed():
    curves = []
    for _ in range(2):
        model, tok = tiny_random_llama()
        cfg = TrainSpec(steps=3, batch_size=2, learning_rate=1e-3, precision="fp32")
        curves.append(fit(METHODS.load("full").apply(model, METHODS.load("full").parse({}), ApplyContext()), tok, PAIRS, cfg, seed=7).loss_curve)
    assert curves[0] == curves[1]


def test_lora_counts_and_trains_only_the_adapters():
    model, tok = tiny_random_llama()
    base = {n: p.detach().clone() for n, p in model.named_parameters()}
    method = METHODS.load("lora")
    applied = method.apply(model, method.parse({"r": 8, "lora_alpha": 16}), ApplyContext())
    model = applied.model
    trainable, total = count_parameters(model)
    # r * (in + out) per linear layer; hidden 64, kv width 32, MLP 128, two layers:
    # q 8*(64+64) + k 8*(64+32) + v 8*(64+32) + o 8*(64+64) + gate, up, down 8*(64+128) each = 8192
    assert trainable == 2 * 8192
    assert total == 107_200 + trainable
    fit(applied, tok, PAIRS, TrainSpec(steps=2, batch_size=2, learning_rate=1e-2, precision="fp32"), seed=0)
    for name, p in model.named_parameters():
        clean = name.replace("base_model.model.", "").replace(".base_layer", "")
        if "lora_" not in name:
            assert torch.equal(p, base[clean]), name
    assert any("lora_B" in n and p.abs().sum() > 0 for n, p in model.named_parameters())  # B starts at zero


def test_baseline_trains_nothing():
    model, _ = tiny_random_llama()
    model = METHODS.load("baseline").apply(model, METHODS.load("baseline").parse({}), ApplyContext()).model
    assert count_parameters(model) == (0, 107_200)
