"""The harness's greedy decoder (harness/evaluate/decode.py) against the peer it replaces:
transformers' generate() called once per prompt, on the built-in tiny Llama (in-process,
fixed seed) and a LoRA on it. Token for token, with rows ending at different steps."""

from __future__ import annotations

import torch

from harness.evaluate import decode
from harness.models.tiny import tiny_random_llama

PROMPTS = ["name[Alpha] | food[Thai]\n", "a\n", "name[Beta] | area[riverside] | priceRange[cheap]\n", "xyz"]


def _alone(model, tok, prompt: str, n: int, eos: int) -> list[int]:
    ids = tok(prompt, return_tensors="pt")
    out = model.generate(**ids, max_new_tokens=n, do_sample=False, eos_token_id=eos, pad_token_id=tok.pad_token_id)
    new = out[0, ids["input_ids"].shape[1] :].tolist()
    return new[: new.index(eos) + 1] if eos in new else new


def _ids(tok) -> list[list[int]]:
    return [tok(p)["input_ids"] for p in PROMPTS]


def test_equals_one_generate_per_prompt():
    model, tok = tiny_random_llama()
    ours = decode.greedy(model, _ids(tok), 12, tok.eos_token_id, lambda _: False)
    assert ours == [_alone(model, tok, p, 12, tok.eos_token_id) for p in PROMPTS]
    assert all(len(t) == 12 for t in ours)


def test_rows_that_end_early_leave_and_the_others_go_on():
    """A token the first prompt emits first at a later step plays end-of-sequence: that row
    (and any other emitting it) ends there, the rest decode on, each still as generate() alone."""
    model, tok = tiny_random_llama()
    free = decode.greedy(model, _ids(tok), 12, None, lambda _: False)
    step = next(j for j in range(1, 12) if free[0][j] not in free[0][:j])
    eos = free[0][step]
    ours = decode.greedy(model, _ids(tok), 12, eos, lambda _: False)
    assert ours == [_alone(model, tok, p, 12, eos) for p in PROMPTS]
    assert len(ours[0]) == step + 1 and ours[0][-1] == eos
    assert any(len(t) == 12 for t in ours)  # someone went on past the first row's end


def test_a_stop_rule_ends_a_row_after_the_token_that_met_it():
    model, tok = tiny_random_llama()
    ours = decode.greedy(model, _ids(tok), 12, None, lambda new: len(new) >= 5 and new[0] == new[0])
    assert [len(t) for t in ours] == [5] * len(PROMPTS)
    free = decode.greedy(model, _ids(tok), 12, None, lambda _: False)
    assert [t[:5] for t in free] == ours


def test_a_lora_model_decodes_as_alone():
    from peft import LoraConfig, get_peft_model

    model, tok = tiny_random_llama()
    torch.manual_seed(0)
    lora = get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    assert decode.supports(lora)
    ours = decode.greedy(lora, _ids(tok), 10, tok.eos_token_id, lambda _: False)
    assert ours == [_alone(lora, tok, p, 10, tok.eos_token_id) for p in PROMPTS]


def test_what_it_does_not_decode_goes_through_generate():
    from peft import PrefixTuningConfig, get_peft_model

    from harness.models.tiny import tiny_random_t5

    model, _ = tiny_random_llama()
    assert decode.supports(model)
    model.generation_config.repetition_penalty = 1.3  # a logits processor generate() would apply
    assert not decode.supports(model)
    model, _ = tiny_random_llama()
    model.config.sliding_window = 16  # a cache that drops the past: not this decoder's buffers
    assert not decode.supports(model)
    model, _ = tiny_random_llama()
    assert not decode.supports(get_peft_model(model, PrefixTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=4)))
    assert not decode.supports(tiny_random_t5()[0])
    assert not decode.supports(torch.nn.Linear(2, 2))  # no transformers config at all
