"""Training memory (harness/train/footprint.py) on the tiny Llama built in-process: gradient
checkpointing gives the loss and gradients of a plain pass (full fine-tuning and LoRA), and it
does recompute (a decoder layer's MLP runs forward twice per step); the bytes of weights,
gradients and AdamW's state equal a count by hand; the training loop with
gradient_checkpointing gives the loss curve it gives without, and turns it off afterwards;
prefix tuning, whose virtual keys and values travel in the cache checkpointing drops, is refused."""

from __future__ import annotations

import pytest
import torch
from conftest import fit
from peft import LoraConfig, get_peft_model

from harness.methods.base import ApplyContext
from harness.models.tiny import tiny_random_llama
from harness.registry import METHODS
from harness.suite.schema import TrainSpec
from harness.train.batches import collate, encode
from harness.train.footprint import gradient_checkpointing, tensor_bytes
from harness.train.objectives import sft_loss

PAIRS = [("Name: Ada. Food: tea.", " Ada drinks tea."), ("Name: Bob.", " Bob."),
         ("Name: Cy. Area: the river, in the north.", " Cy lives by the river in the north.")]


def _model(peft: bool):
    torch.manual_seed(0)
    model, tokenizer = tiny_random_llama()
    if peft:
        model = get_peft_model(model, LoraConfig(r=4, target_modules="all-linear", init_lora_weights=False))
    return model.train(), tokenizer


def _loss_and_grads(model, tokenizer):
    batch = collate([encode(tokenizer, p, c, max_length=64) for p, c in PAIRS], tokenizer.pad_token_id)
    model.zero_grad(set_to_none=True)
    loss = sft_loss(model, batch, selective=True)
    loss.backward()
    return loss.item(), [p.grad.clone() for p in model.parameters() if p.requires_grad]


@pytest.mark.parametrize("peft", [False, True], ids=["full", "lora"])
def test_checkpointing_recomputes_and_gives_the_same_loss_and_gradients(peft):
    model, tokenizer = _model(peft)
    plain_loss, plain_grads = _loss_and_grads(model, tokenizer)
    # A module inside the layer (the layer's own hooks stay outside what transformers
    # checkpoints), when it starts (torch's recomputation stops once it has what backward needs).
    mlp = (model.get_base_model() if peft else model).model.layers[0].mlp
    calls = []
    mlp.register_forward_pre_hook(lambda *_: calls.append(1))
    _loss_and_grads(model, tokenizer)
    assert len(calls) == 1  # without checkpointing: one forward per step
    off = gradient_checkpointing(model)
    calls.clear()
    loss, grads = _loss_and_grads(model, tokenizer)
    assert len(calls) == 2  # forward, then again during backward
    assert loss == pytest.approx(plain_loss, abs=1e-6)
    for g, h in zip(grads, plain_grads):
        torch.testing.assert_close(g, h, atol=1e-6, rtol=1e-5)
    off()
    calls.clear()
    _loss_and_grads(model, tokenizer)
    assert len(calls) == 1 and model.config.use_cache is not False


def test_tensor_bytes_equal_a_count_by_hand():
    model, tokenizer = _model(peft=False)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    _loss_and_grads(model, tokenizer)
    optimizer.step()
    counted = tensor_bytes(model, optimizer)
    unique = {p.data_ptr(): p for p in model.parameters()}.values()  # the tied embedding and head once
    params = sum(p.numel() for p in unique)
    buffers = sum(b.numel() * b.element_size() for b in model.buffers())
    with_grad = [p for p in model.parameters() if p.grad is not None]
    assert counted["weights"] == 4 * params + buffers
    assert counted["gradients"] == 4 * sum(p.numel() for p in with_grad)
    # AdamW: two fp32 moments per trained parameter and a one-element fp32 step count per tensor
    assert counted["optimizer"] == 2 * 4 * sum(p.numel() for p in with_grad) + 4 * len(optimizer.state)


@pytest.mark.parametrize("method, params", [("full", {}), ("lora", {"r": 4})])
def test_the_loop_with_checkpointing_gives_the_same_curve(method, params):
    curves, memories = [], []
    for checkpointing in (False, True):
        model, tokenizer = _model(peft=False)
        m = METHODS.load(method)
        applied = m.apply(model, m.parse(params), ApplyContext(steps=3))
        cfg = TrainSpec(steps=3, batch_size=3, learning_rate=1e-3, precision="fp32", max_length=64,
                        gradient_checkpointing=checkpointing)
        result = fit(applied, tokenizer, PAIRS, cfg)
        curves.append([loss for _, loss in result.loss_curve])
        memories.append(result.memory)
        base = applied.model.get_base_model() if hasattr(applied.model, "get_base_model") else applied.model
        assert not any(getattr(m, "gradient_checkpointing", False) for m in base.modules())  # off after the stage
    assert curves[1] == pytest.approx(curves[0], abs=1e-5)
    assert memories[0] == memories[1] and memories[0]["gradients"] > 0 and memories[0]["optimizer"] > 0


def test_prefix_tuning_refuses_checkpointing_at_validation(write_suite):
    from conftest import TINY_SUITE

    from harness.errors import SuiteError
    from harness.suite.loading import load_suite

    suite = TINY_SUITE.replace("  precision: fp32", "  precision: fp32\n  gradient_checkpointing: true")
    suite = suite.replace("methods:\n", "methods:\n  - {name: prefix, method: prefix_tuning}\n")
    with pytest.raises(SuiteError, match=r"methods\[0\]: gradient_checkpointing cannot apply to prefix_tuning"):
        load_suite(write_suite(suite))
