"""Batched greedy decoding must give what one-by-one decoding gives."""

from __future__ import annotations

from harness.evaluate.generation import cut_at_stop, generate
from harness.models.tiny import tiny_random_llama


def test_cut_at_stop_takes_the_earliest_stop():
    assert cut_at_stop("abc\ndef. x", ["\n", "."]) == "abc"
    assert cut_at_stop("abc", ["\n"]) == "abc"
    assert cut_at_stop("abc", []) == "abc"


def test_a_stop_string_ends_an_answer_only_once_it_has_begun():
    # an instruct model opening its answer with a newline: the answer is the next line
    assert cut_at_stop("\nThe Salt Cellar is cheap.\nMore", ["\n"]) == "\nThe Salt Cellar is cheap."
    assert cut_at_stop(" \n\n  42\n", ["\n"]).strip() == "42"
    assert cut_at_stop("###Answer###", ["###"]) == "###Answer"  # a stop string at the very start does not end it
    assert cut_at_stop("\n\n", ["\n"]).strip() == ""  # nothing but whitespace: empty, honestly


def test_generation_goes_on_past_a_leading_stop_string():
    """The stop rule inside generate: a row whose first token is the stop string keeps going,
    and ends at the first stop string after its answer began."""
    import torch

    from harness.evaluate.generation import StopAfterAnswer

    model, tok = tiny_random_llama()
    criteria = StopAfterAnswer(tok, ["\n"], start=1)
    ids = lambda text: torch.tensor([[0] + tok(text, add_special_tokens=False)["input_ids"]])  # noqa: E731
    assert not bool(criteria(ids("\n"), None)[0])  # only the leading newline: not done
    assert not bool(criteria(ids("\nThe"), None)[0])
    assert bool(criteria(ids("\nThe end\n"), None)[0])
    free = generate(model, tok, ["name[Alpha]\n"], max_new_tokens=16, stop=[], batch_size=1)[0]
    stopped = generate(model, tok, ["name[Alpha]\n"], max_new_tokens=16, stop=["\n"], batch_size=1)[0]
    assert stopped == cut_at_stop(free, ["\n"])  # generation ended where the rule cuts the free text


def test_batched_equals_one_at_a_time():
    model, tok = tiny_random_llama()
    prompts = ["name[Alpha] | food[Thai]\n", "a\n", "name[Beta] | area[riverside] | priceRange[cheap]\n"]
    batched = generate(model, tok, prompts, max_new_tokens=12, stop=[], batch_size=3)
    single = [generate(model, tok, [p], max_new_tokens=12, stop=[], batch_size=1)[0] for p in prompts]
    assert batched == single
    assert tok.padding_side == "right"  # restored after generation
