"""Batched greedy decoding must give what one-by-one decoding gives."""

from __future__ import annotations

from harness.evaluate.generation import cut_at_stop, generate
from harness.models.tiny import tiny_random_llama


def test_cut_at_stop_takes_the_earliest_stop():
    assert cut_at_stop("abc\ndef. x", ["\n", "."]) == "abc"
    assert cut_at_stop("abc", ["\n"]) == "abc"
    assert cut_at_stop("abc", []) == "abc"


def test_batched_equals_one_at_a_time():
    model, tok = tiny_random_llama()
    prompts = ["name[Alpha] | food[Thai]\n", "a\n", "name[Beta] | area[riverside] | priceRange[cheap]\n"]
    batched = generate(model, tok, prompts, max_new_tokens=12, stop=[], batch_size=3)
    single = [generate(model, tok, [p], max_new_tokens=12, stop=[], batch_size=1)[0] for p in prompts]
    assert batched == single
    assert tok.padding_side == "right"  # restored after generation
