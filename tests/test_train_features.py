"""Batching, mixtures, validation with select_best, stages, chat prompts, NaN, saving."""

from __future__ import annotations

import json
import random

import pytest
import torch
from click.testing import CliRunner
from conftest import TINY_SUITE, fit

from harness.cli import main
from harness.errors import HarnessError
from harness.methods.base import ApplyContext
from harness.models.tiny import tiny_random_llama
from harness.registry import METHODS
from harness.suite.schema import TrainSpec, ValidationSpec
from harness.train.batches import IGNORE, Source, batches, encode
from harness.train.trainset import mean_loss

PAIRS = [("name[Alpha] | food[Thai]\n", "Alpha serves Thai food."), ("name[Beta] | area[riverside]\n", "Beta is by the river.")] * 4


def fake_examples(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    return [{"input_ids": [1] * rng.randint(1, 200), "labels": [1]} for _ in range(n)]


def padding(batch: list[dict]) -> int:
    width = max(len(e["input_ids"]) for e in batch)
    return sum(width - len(e["input_ids"]) for e in batch)


def test_length_grouping_cuts_padding_and_keeps_every_example():
    source = [Source("s", fake_examples(800, 0))]
    grouped, shuffled = batches(source, 8, seed=0, by_length=True), batches(source, 8, seed=0, by_length=False)
    first_grouped = [next(grouped) for _ in range(100)]
    assert sum(map(padding, first_grouped)) < 0.2 * sum(padding(next(shuffled)) for _ in range(100))
    seen = [id(e) for b in first_grouped for e in b]
    assert len(set(seen)) == 800  # one pass: every example exactly once


def test_small_data_never_makes_batches_of_one_repeated_example():
    source = [Source("s", fake_examples(8, 3))]
    stream = batches(source, 8, seed=0, by_length=True)
    for _ in range(20):
        assert len({id(e) for e in next(stream)}) == 8  # each batch is the whole data once


def test_mixture_draws_in_proportion_to_weight():
    a, b = Source("a", fake_examples(50, 1), weight=3.0), Source("b", fake_examples(50, 2), weight=1.0)
    ids_a = {id(e) for e in a.examples}
    stream = batches([a, b], 10, seed=0, by_length=False)
    drawn = [e for _ in range(400) for e in next(stream)]
    share = sum(id(e) in ids_a for e in drawn) / len(drawn)
    assert share == pytest.approx(0.75, abs=0.03)


def test_select_best_ends_with_the_best_checked_weights():
    model, tok = tiny_random_llama()
    m = METHODS.load("full")
    applied = m.apply(model, m.parse({}), ApplyContext(steps=12))
    from harness.train.trainset import encode_pairs

    cfg = TrainSpec(steps=12, batch_size=2, learning_rate=3e-2, precision="fp32", schedule="constant",
                    validation=ValidationSpec(every=3), select_best="loss")
    held_out = encode_pairs(tok, [("name[Gamma] | food[Thai]\n", "Gamma serves Thai food.")] * 2, cfg, "held")
    result = fit(applied, tok, PAIRS, cfg, check=lambda: {"loss": mean_loss(model, held_out, tok.pad_token_id, 2)})
    steps = [c["step"] for c in result.validation_curve]
    assert steps == [0, 3, 6, 9, 12]
    best = min(result.validation_curve, key=lambda c: c["loss"])
    assert result.best_step == best["step"]
    assert mean_loss(model, held_out, tok.pad_token_id, 2) == pytest.approx(best["loss"], abs=1e-6)


def test_a_loss_that_explodes_fails_the_variant():
    model, tok = tiny_random_llama()
    m = METHODS.load("full")
    applied = m.apply(model, m.parse({}), ApplyContext(steps=30))
    with torch.no_grad():
        model.lm_head.weight.mul_(1e38)  # the next forward pass overflows
    with pytest.raises(FloatingPointError, match="loss became"):
        fit(applied, tok, PAIRS, TrainSpec(steps=3, batch_size=2, precision="fp32"))


def test_text_template_learns_every_token_and_chat_wraps_the_prompt():
    _, tok = tiny_random_llama()
    e = encode(tok, "", "raw text", max_length=64)
    assert e["labels"][0] == IGNORE and all(label != IGNORE for label in e["labels"][1:])
    with pytest.raises(HarnessError, match="no chat template"):
        encode(tok, "hi", "there", 64, chat=True)
    tok.chat_template = "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}"
    e = encode(tok, "hi", "there", 64, chat=True)
    prompt = tok("<user>hi<assistant>", add_special_tokens=False)["input_ids"]
    assert e["input_ids"][: len(prompt)] == prompt and e["labels"][: len(prompt)] == [IGNORE] * len(prompt)


@pytest.mark.slow
def test_stages_mixture_validation_and_save_through_the_cli(write_suite, tmp_path):
    (tmp_path / "domain.jsonl").write_text("".join(json.dumps({"body": f"The venue number {i} serves food."}) + "\n" for i in range(12)))
    suite = TINY_SUITE.replace("""  - name: full
    method: full
""", """  - name: staged
    method: lora
    train: {save: true}
    stages:
      - {data: domain.jsonl, template: {text: "{{body}}"}, steps: 2}
      - {steps: 3, validation: {every: 2, split: validation, limit: 4}, select_best: loss}
  - name: mixed
    method: full
    train:
      steps: 2
      mixture:
        - {data: builtin:data2text, weight: 3}
        - {data: domain.jsonl, template: {text: "{{body}}"}, weight: 1}
""")
    result = CliRunner().invoke(main, ["run", str(write_suite(suite)), "--results", str(tmp_path / "r"), "--only", "[sm]*"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    records = {json.loads(p.read_text())["name"]: (p.parent, json.loads(p.read_text())) for p in (tmp_path / "r" / "tiny").glob("*/record.json")}
    folder, staged = records["staged"]
    assert [s for s, _ in staged["train_curve"]] == [1, 2, 3, 4, 5]  # steps run on across stages
    assert [st["steps"] for st in staged["method_info"]["stages"]] == [2, 3]
    assert [c["step"] for c in staged["validation_curve"]] == [2, 4, 5]
    assert staged["method_info"]["stages"][1]["best_step"] in (2, 4, 5)
    assert staged["cost"]["saved_bytes"] > 0 and (folder / "weights" / "adapter_model.safetensors").is_file()
    _, mixed = records["mixed"]
    assert len(mixed["method_info"]["stages"][0]["data"]) == 2 and mixed["spec"]["stages"][0]["mixture"][0]["weight"] == 3


@pytest.mark.slow
def test_column_mapping_in_training_and_evaluation(write_suite, tmp_path):
    rows = [{"q": f"name[Venue {i}] | food[Thai]", "a": f"Venue {i} serves Thai food."} for i in range(12)]
    (tmp_path / "qa.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    suite = TINY_SUITE.replace("builtin:data2text\n  limit", "qa.jsonl\n  columns: {input: q, output: a}\n  limit").replace(
        "    data: builtin:data2text\n    split: test\n", "    data: qa.jsonl\n    split: \"train[8:]\"\n    columns: {input: q, output: a}\n")
    result = CliRunner().invoke(main, ["run", str(write_suite(suite)), "--results", str(tmp_path / "r"), "--only", "full"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    record = json.loads(next((tmp_path / "r" / "tiny").glob("full-*/record.json")).read_text())
    assert record["metrics"]["d2t"]["rouge1"]["n"] == 4 and len(record["train_curve"]) == 2
