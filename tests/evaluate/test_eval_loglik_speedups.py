"""The log-likelihood speed-ups keep the scores: logits only where read, and a shared prefix
run once with its cache continued, against the plain path (every position's logits, whole
sequences), on the built-in tiny model in this process. The real-model side (identical
accuracy with lm-eval, 0- and 5-shot) is tests/evaluate/test_eval_mmlu_parity.py.
"""

from __future__ import annotations

import random

import pytest

from harness.evaluate import loglik, prefixes
from harness.methods.base import ApplyContext
from harness.models.tiny import tiny_random_llama
from harness.registry import METHODS


def test_requests_sharing_a_long_start_are_grouped_and_cut_before_their_reads():
    shared = list(range(100, 140))  # 40 tokens in common
    reqs = [(shared + [1, 2, 3], 1, None), (shared + [1, 2, 4, 5], 2, None), (shared + [7], 1, None),
            (list(range(50)), 1, None)]
    batches = prefixes.plan(reqs, batch_size=2)
    grouped = [b for b in batches if b.prefix]
    # the three sharing 40 tokens form one group; the third reads position 39 (predicting
    # its last token), so the prefix stops at 39 tokens
    assert {i for b in grouped for i in b.requests} == {0, 1, 2} and {b.prefix for b in grouped} == {39}
    assert [b.requests for b in batches if not b.prefix] == [[3]]
    assert all(len(b.requests) <= 2 for b in batches)
    assert [b.prefix for b in prefixes.plan(reqs, 2, reuse=False)] == [0, 0]
    short = [(list(range(5)) + [i] * 9, 1, None) for i in range(3)]  # 5 shared: not worth it
    assert {b.prefix for b in prefixes.plan(short, 8)} == {0}


def test_two_subjects_keep_their_own_long_prefixes():
    """Sorted together, a subject's requests follow another's; joining them would cut what
    the group shares to the few tokens both open with, so a new group starts."""
    opening = list(range(10))
    subject_a, subject_b = opening + list(range(100, 160)), opening + list(range(200, 260))
    reqs = [(subject_a + [1000 + q, 7], 1, None) for q in range(4)] + [(subject_b + [2000 + q, 7], 1, None) for q in range(4)]
    batches = prefixes.plan(reqs, batch_size=8)
    assert sorted((b.prefix, sorted(b.requests)) for b in batches) == [(70, [0, 1, 2, 3]), (70, [4, 5, 6, 7])]


@pytest.fixture(scope="module")
def tiny():
    return tiny_random_llama()


def requests_with_shared_prefixes(tok) -> tuple[list[str], list[list[str]]]:
    rng = random.Random(0)
    shots = ["".join(rng.choice("abcdefgh ") for _ in range(80)) for _ in range(2)]
    contexts, choices = [], []
    for s in shots:  # two groups, each sharing an 80-byte prefix (about 80 tokens, byte-level)
        for q in range(5):
            contexts.append(s + f"\nquestion {q}: " + "x" * rng.randrange(1, 30) + "\nAnswer:")
            choices.append([" A", " B", " C", " D"] if q % 2 else [" yes", " no way", " maybe so"])
    contexts.append("short one\nAnswer:")  # in no group
    choices.append([" A", " B"])
    return contexts, choices


def test_scores_equal_the_plain_path(tiny, monkeypatch):
    model, tok = tiny
    contexts, choices = requests_with_shared_prefixes(tok)
    planned = []
    real_plan = prefixes.plan
    monkeypatch.setattr(prefixes, "plan", lambda *a, **k: planned.extend(real_plan(*a, **k)) or planned)
    fast = loglik.choice_logprobs(model, tok, contexts, choices, batch_size=3)
    # both shot prefixes ran once each, and so did the last question's context, shared by its
    # two options (two tokens each under the byte-level tokenizer, so two requests), but for
    # its last token, whose logits predict the answer's first
    assert sorted({(b.group, b.prefix) for b in planned if b.prefix})[-1][1] == len(tok("short one\nAnswer:")["input_ids"]) - 1
    assert len({b.group for b in planned if b.prefix}) == 3
    monkeypatch.setattr(loglik, "keeps_logits", lambda m: False)  # every position, whole sequences
    plain = loglik.choice_logprobs(model, tok, contexts, choices, batch_size=3)
    assert [len(x) for x in fast] == [len(c) for c in choices]
    for a, b in zip(fast, plain):
        assert a == pytest.approx(b, abs=1e-5)


def test_a_prefix_tuned_model_takes_the_plain_path(tiny):
    model, tok = tiny_random_llama()
    method = METHODS.load("prefix_tuning")
    applied = method.apply(model, method.parse({"num_virtual_tokens": 4}), ApplyContext(steps=1))
    assert not loglik.takes_a_cache(applied.model)
    contexts, choices = requests_with_shared_prefixes(tok)
    scores = loglik.choice_logprobs(applied.model, tok, contexts[:3], choices[:3], batch_size=2)
    assert all(len(s) == len(c) for s, c in zip(scores, choices[:3]))
