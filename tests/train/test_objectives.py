"""The SFT loss with the output head at completion tokens only equals the model's own loss
(the head over every position) in value and in gradients, on the tiny Llama built in-process,
plain and under peft LoRA; models whose positions shift or that are no decoder take the
model's own path."""

from __future__ import annotations

import pytest
import torch
from peft import LoraConfig, PrefixTuningConfig, PromptTuningConfig, get_peft_model

from harness.models.abilities import keeps_logits
from harness.models.tiny import tiny_random_llama, tiny_random_t5
from harness.train.batches import collate, encode
from harness.train.objectives import sft_loss

PAIRS = [("Name: Ada. Food: tea.", " Ada drinks tea."), ("Name: Bob.", " Bob."),
         ("Name: Cy. Area: the river, in the north.", " Cy lives by the river in the north.")]


def _batch(tokenizer):
    examples = [encode(tokenizer, p, c, max_length=64) for p, c in PAIRS]
    return collate(examples, tokenizer.pad_token_id)


def _grads(model) -> list[torch.Tensor]:
    return [p.grad.clone() for p in model.parameters() if p.requires_grad]


@pytest.mark.parametrize("peft", [None, "lora", "prefix"])
def test_loss_and_gradients_equal_the_models_own(peft):
    """Plain, under LoRA, and under prefix tuning (virtual keys and values in the cache: the
    positions stay the tokens' own)."""
    model, tokenizer = tiny_random_llama()
    if peft == "lora":
        model = get_peft_model(model, LoraConfig(r=4, target_modules="all-linear", init_lora_weights=False))
    elif peft == "prefix":
        model = get_peft_model(model, PrefixTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=4))
    batch = _batch(tokenizer)
    assert keeps_logits(model)

    own = model(**batch).loss
    own.backward()
    expected = _grads(model)
    model.zero_grad()
    selected = sft_loss(model, batch, selective=True)
    selected.backward()

    assert selected.item() == pytest.approx(own.item(), rel=1e-6)
    for got, want in zip(_grads(model), expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)


def test_a_batch_without_completion_tokens_gives_zero_with_a_graph():
    model, tokenizer = tiny_random_llama()
    batch = _batch(tokenizer)
    batch["labels"][:] = -100
    loss = sft_loss(model, batch, selective=True)
    loss.backward()  # every parameter still takes part (a DDP rank's empty share must sync)
    assert loss.item() == 0.0
    assert all(p.grad is not None for p in model.parameters())


def test_soft_prompts_and_encoder_decoders_take_the_models_own_path():
    model, _ = tiny_random_llama()
    prompted = get_peft_model(model, PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=4))
    assert not keeps_logits(prompted)
    t5, _ = tiny_random_t5()
    assert not keeps_logits(t5)
