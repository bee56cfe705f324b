"""QLoRA on the tiny random Llama: which layers are 4-bit, that both ways of quantizing (in
place, or while from_pretrained loads) give the same weights, and that training leaves
the 4-bit weights alone."""

from __future__ import annotations

import bitsandbytes as bnb
import pytest
import torch
from conftest import fit

from harness import models
from harness.methods.base import ApplyContext, count_parameters
from harness.models.precision import bf16_supported
from harness.models.tiny import tiny_random_llama
from harness.registry import METHODS
from harness.suite.schema import TrainSpec

PAIRS = [("name[Alpha] | food[Thai]\n", "Alpha serves Thai food."), ("name[Beta] | area[riverside]\n", "Beta is by the river.")] * 4
TEXTS = ["name[Alpha] | food[Thai]\n", "a\n", "name[Beta] | area[riverside] | priceRange[cheap]\n"]


def qlora(model, params: dict | None = None):
    method = METHODS.load("qlora")
    return method.apply(model, method.parse(params or {}), ApplyContext())


def four_bit(model) -> dict[str, torch.nn.Module]:
    return {n: m for n, m in model.named_modules() if isinstance(m, bnb.nn.Linear4bit)}


def test_every_linear_layer_but_the_head_is_4bit():
    model, _ = tiny_random_llama()
    linear = {n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear) and n != "lm_head"}
    applied = qlora(model)
    layers = four_bit(applied.model)
    assert len(layers) == 14  # q, k, v, o, gate, up, down in each of 2 blocks
    assert {n.removeprefix("base_model.model.").removesuffix(".base_layer") for n in layers} == linear
    assert type(applied.model.get_output_embeddings()) is torch.nn.Linear
    native_bf16 = bf16_supported(torch.device("cpu"))  # auto: bf16 only where the CPU has it natively
    assert applied.info == {"peft_type": "LORA", "4bit_layers": 14, "quant_type": "nf4", "double_quant": True,
                            "compute_dtype": "bfloat16" if native_bf16 else "float32"}
    # LoRA sits on every 4-bit layer; the 4-bit weights count two values per stored byte
    assert count_parameters(applied.model) == (2 * 8 * 1024, 107_200 + 2 * 8 * 1024)


def test_settings_reach_the_layers():
    model, _ = tiny_random_llama()
    applied = qlora(model, {"quant_type": "fp4", "double_quant": False, "compute_dtype": "fp32"})
    weight = next(iter(four_bit(applied.model).values())).weight
    assert (weight.quant_type, weight.compress_statistics) == ("fp4", False)
    assert applied.info["compute_dtype"] == "float32" and applied.info["quant_type"] == "fp4"


def test_in_place_quantization_equals_quantized_loading(tmp_path):
    """The built-in model quantized by apply and the same model saved and read back through
    models.load with the method's load_kwargs hold the same 4-bit weights, bit for bit."""
    model, tok = tiny_random_llama()
    model.save_pretrained(tmp_path / "tiny")
    tok.save_pretrained(tmp_path / "tiny")
    method = METHODS.load("qlora")
    params = method.parse({})
    loaded, _ = models.load("tiny", tmp_path, **method.load_kwargs(params))
    assert getattr(loaded, "is_loaded_in_4bit", False) and len(four_bit(loaded)) == 14
    from_disk = method.apply(loaded, params, ApplyContext())
    in_place = qlora(model)
    disk_layers, place_layers = four_bit(from_disk.model), four_bit(in_place.model)
    assert disk_layers.keys() == place_layers.keys()
    for name, layer in place_layers.items():
        other = disk_layers[name]
        assert torch.equal(layer.weight.data, other.weight.data), name
        assert torch.equal(layer.weight.quant_state.absmax, other.weight.quant_state.absmax), name
    assert from_disk.info == in_place.info
    enc = tok(TEXTS, return_tensors="pt", padding=True)
    with torch.no_grad():
        assert torch.equal(from_disk.model(**enc).logits, in_place.model(**enc).logits)


def test_quantized_logits_are_close_to_full_precision_but_not_equal():
    model, tok = tiny_random_llama()
    enc = tok(TEXTS, return_tensors="pt", padding=True)
    mask = enc["attention_mask"].bool()
    with torch.no_grad():
        full = model(**enc).logits[mask]
        quantized = qlora(model).model(**enc).logits[mask]
    relative = float((quantized - full).norm() / full.norm())
    # NF4 rounds each weight to one of 16 levels per block of 64: measured 0.097 here.
    assert 0.01 < relative < 0.2, relative


def test_training_lowers_the_loss_and_leaves_the_4bit_weights_alone():
    model, tok = tiny_random_llama()
    applied = qlora(model)
    stored = {n: (m.weight.data.clone(), m.weight.quant_state.absmax.clone()) for n, m in four_bit(applied.model).items()}
    cfg = TrainSpec(steps=8, batch_size=4, learning_rate=2e-3, precision="fp32", schedule="constant")
    curve = fit(applied, tok, PAIRS, cfg).loss_curve
    assert curve[-1][1] < curve[0][1] - 0.1, curve
    for name, m in four_bit(applied.model).items():
        assert torch.equal(m.weight.data, stored[name][0]) and torch.equal(m.weight.quant_state.absmax, stored[name][1]), name
        assert not m.weight.requires_grad


@pytest.mark.parametrize("bad", [{"quant_type": "int8"}, {"compute_dtype": "float64"}, {"lora_alpah": 8}])
def test_bad_settings_are_reported(bad):
    assert [p.path for p in METHODS.load("qlora").validate(bad)] == list(bad)


def test_an_eval_pass_before_training_keeps_the_gradients_flowing():
    """A validation check runs the model in eval mode without grad; on avx512_bf16 CPUs
    bitsandbytes would then switch the layers to a kernel that passes no gradient back,
    and the LoRA layers below the top would stop learning (qlora.py turns that off)."""
    model, tok = tiny_random_llama()
    applied = qlora(model)
    enc = tok(TEXTS, return_tensors="pt", padding=True)
    applied.model.eval()
    with torch.no_grad():
        applied.model(**enc)
    applied.model.train()
    applied.model(**enc, labels=enc["input_ids"]).loss.backward()
    lora_b = {n: p.grad for n, p in applied.model.named_parameters() if "lora_B" in n}
    assert len(lora_b) == 14
    assert all(g is not None and g.abs().sum() > 0 for g in lora_b.values()), [n for n, g in lora_b.items() if g is None or not g.abs().sum()]
