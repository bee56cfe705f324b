"""In-context baselines (baselines: {shots: [...]}) and the chat-template default.

Shots are checked against values worked out by hand: the rows a seeded random.sample picks,
the exact text composed, the number of examples that fit a given room. The end-to-end test
runs the real CLI on the built-in tiny model (in-process, CPU) and reads its records.
"""

from __future__ import annotations

import json
import random

import pytest
from conftest import TINY_SUITE

from harness.evaluate import shots as in_context
from harness.models.tiny import tiny_random_llama
from harness.run.worker import resolve_chat
from harness.suite.loading import load_suite
from harness.suite.plan import plan
from harness.suite.schema import TemplateSpec
from harness.suite.variant import Shots

WITH_SHOTS = TINY_SUITE.replace("seeds: [0]", "seeds: [0]\nbaselines: {shots: [0, 2]}")
CHAT_TEMPLATE = ("{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}</s>{% endfor %}"
                 "{% if add_generation_prompt %}<assistant>{% endif %}")


def test_plan_adds_a_baseline_per_k_and_leaves_other_ids_alone(write_suite):
    before = {v.name: v.id for v in plan(load_suite(write_suite(TINY_SUITE, "a.yaml")))}
    variants = {v.name: v for v in plan(load_suite(write_suite(WITH_SHOTS, "b.yaml")))}
    assert sorted(variants) == ["baseline", "baseline-2shot", "full", "lora-r4"]
    shot = variants["baseline-2shot"]
    assert shot.method == "baseline" and shot.params == {"shots": 2} and shot.stages == []
    # drawn from the training data, its train split, with the fixed seed
    assert (shot.shots.k, shot.shots.data, shot.shots.split, shot.shots.seed) == (2, "builtin:data2text", "train", 1234)
    # the zero-shot baseline and the tuned variants are what they were without the block
    assert {n: v.id for n, v in variants.items() if n != "baseline-2shot"} == before


def test_shots_come_from_training_data_with_a_fixed_seed(tmp_path):
    rows = [{"input": f"q{i}", "output": f"a{i}"} for i in range(10)]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    spec = Shots(k=3, data="train.jsonl", split="train", template=TemplateSpec(prompt="{{input}} =", completion=" {{output}}"), seed=7)
    picked = random.Random(7).sample(range(10), 3)  # the draw, by hand
    assert in_context.draw(spec, tmp_path) == [(f"q{i} =", f" a{i}") for i in picked]
    assert in_context.draw(spec, tmp_path) == in_context.draw(spec, tmp_path)  # every variant, every run


def test_shots_from_the_scored_split_are_refused(write_suite):
    leaky = WITH_SHOTS.replace("split: test\n", "split: train\n")
    with pytest.raises(Exception, match="baselines.shots.*the split\\s+evals\\[0\\]"):
        load_suite(write_suite(leaky))


def test_plain_composition_and_fewer_shots_when_they_do_not_fit():
    _, tok = tiny_random_llama()  # byte-level: one token per byte, plus BOS
    examples = [("q1 =", " a1"), ("q2 =", " a2")]
    assert in_context.compose(tok, "q3 =", examples, chat=False) == "q1 = a1\n\nq2 = a2\n\nq3 ="
    full = len(tok("q1 = a1\n\nq2 = a2\n\nq3 =")["input_ids"])
    texts, kept = in_context.contexts(tok, ["q3 =", "q3 ="], examples, chat=False, room=full)
    assert kept == [2, 2]
    texts, kept = in_context.contexts(tok, ["q3 ="], examples, chat=False, room=full - 1)
    assert kept == [1] and texts == ["q1 = a1\n\nq3 ="]
    assert in_context.contexts(tok, ["q3 ="], examples, chat=False, room=3)[1] == [0]


def test_chat_composition_is_multi_turn():
    _, tok = tiny_random_llama()
    tok.chat_template = CHAT_TEMPLATE
    text = in_context.compose(tok, "q3", [("q1", " a1")], chat=True)
    assert text == "<user>q1</s><assistant>a1</s><user>q3</s><assistant>"


def test_chat_defaults_to_the_models_template(write_suite, tmp_path):
    quick = TINY_SUITE.replace("model: tiny-random-llama", "model: smollm2-135m-instruct") + """\
  - name: retention
    kind: multiple_choice
    data: builtin:arithmetic
    limit: 4
    metrics: [acc]
"""
    v = {x.name: x for x in plan(load_suite(write_suite(quick, "q.yaml")))}
    # an instruct model: prompted through its template, tuned and untuned alike
    assert v["full"].stages[0].chat is True and [e.chat for e in v["baseline"].evals] == [True, False]
    off = {x.name: x for x in plan(load_suite(write_suite(quick.replace("  precision: fp32", "  precision: fp32\n  chat: false"), "off.yaml")))}
    assert off["full"].stages[0].chat is False and [e.chat for e in off["baseline"].evals] == [False, False]
    # a model without a template: plain prompts, ids as before the default existed
    tiny = {x.name: x for x in plan(load_suite(write_suite(TINY_SUITE, "t.yaml")))}
    assert tiny["full"].stages[0].chat is False and tiny["baseline"].evals[0].chat is False
    # a local folder says so in its tokenizer_config.json
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "tokenizer_config.json").write_text(json.dumps({"chat_template": CHAT_TEMPLATE}))
    local = plan(load_suite(write_suite(TINY_SUITE.replace("model: tiny-random-llama", "model: ./m"), "l.yaml")))
    assert local[1].stages[0].chat is True


def test_the_worker_asks_the_tokenizer_when_the_plan_could_not_know(write_suite):
    variant = plan(load_suite(write_suite(TINY_SUITE)))[1]
    unknown = variant.model_copy(update={"stages": [variant.stages[0].model_copy(update={"chat": None})],
                                         "evals": [variant.evals[0].model_copy(update={"chat": None})]})
    _, tok = tiny_random_llama()
    assert resolve_chat(unknown, tok).stages[0].chat is False
    tok.chat_template = CHAT_TEMPLATE
    resolved = resolve_chat(unknown, tok)
    assert resolved.stages[0].chat is True and resolved.evals[0].chat is True
