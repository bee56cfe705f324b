"""Classification: metrics against scikit-learn, log-likelihood scoring by hand, the linear
probe on the tiny model, and a probe suite end to end."""

from __future__ import annotations

import json
import random

import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from sklearn.metrics import accuracy_score, f1_score

from harness.cli import main
from harness.errors import HarnessError
from harness.evaluate.loglik import continuation_logprobs
from harness.methods.base import ApplyContext, count_parameters
from harness.metrics.classification import accuracy, f1_from_counts, macro_f1
from harness.models.tiny import tiny_random_llama
from harness.registry import METHODS
from harness.suite.schema import TrainSpec


def labelled(n: int, seed: int) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    gold = [rng.choice("abc") for _ in range(n)]
    pred = [g if rng.random() < 0.6 else rng.choice("abc") for g in gold]
    return pred, gold


def test_accuracy_and_macro_f1_equal_scikit_learn():
    pred, gold = labelled(300, 0)
    refs = [[g] for g in gold]
    assert accuracy(pred, refs).value == pytest.approx(accuracy_score(gold, pred))
    result = macro_f1(pred, refs)
    assert result.value == pytest.approx(f1_score(gold, pred, average="macro"))
    assert result.ci_low < result.value < result.ci_high
    assert result.extra["per_class_f1"]["a"] == pytest.approx(f1_score(gold, pred, labels=["a"], average=None)[0], abs=1e-6)


def test_bootstrap_statistic_is_scikit_learns_macro_f1():
    # the counts used inside the bootstrap must give sklearn's number on any sample
    for seed in range(5):
        pred, gold = labelled(40, seed)
        classes = sorted(set(gold) | set(pred))
        row = []
        for c in classes:
            row += [sum(p == g == c for p, g in zip(pred, gold)), sum(p == c != g for p, g in zip(pred, gold)),
                    sum(g == c != p for p, g in zip(pred, gold))]
        assert f1_from_counts(row) == pytest.approx(f1_score(gold, pred, labels=classes, average="macro", zero_division=0))


def test_continuation_logprobs_by_hand_and_batched():
    model, tok = tiny_random_llama()
    pairs = [("Review: great\nSentiment:", " positive"), ("x", " negative"), ("Review: a longer review here\nSentiment:", " positive")]
    batched = continuation_logprobs(model, tok, pairs, batch_size=3)
    ids = tok("x negative")["input_ids"]  # BOS, 'x', ' negative' as bytes
    n = len(tok(" negative", add_special_tokens=False)["input_ids"])
    with torch.no_grad():
        logprobs = F.log_softmax(model(torch.tensor([ids])).logits[0], -1)
    by_hand = sum(float(logprobs[t - 1, ids[t]]) for t in range(len(ids) - n, len(ids)))
    assert batched[1] == pytest.approx(by_hand, abs=1e-4)
    assert batched == pytest.approx([continuation_logprobs(model, tok, [p], 1)[0] for p in pairs], abs=1e-4)


def test_linear_probe_trains_only_its_head():
    model, tok = tiny_random_llama()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    m = METHODS.load("linear_probe")
    torch.manual_seed(0)  # the new head's init, whatever ran before in this process
    applied = m.apply(model, m.parse({}), ApplyContext(steps=30, labels=("negative", "positive")))
    assert count_parameters(applied.model) == (64 * 2 + 2, 107_200 + 64 * 2 + 2)  # hidden x classes + bias
    from harness.data.builtin.sentiment import generate

    rows = generate("train")[:64]
    cfg = TrainSpec(steps=30, batch_size=8, learning_rate=5e-2, precision="fp32", label="label", schedule="constant")
    from harness.train.batches import Source
    from harness.train.loop import train
    from harness.train.trainset import encode_pairs

    pairs = [(r["text"], r["label"]) for r in rows]
    result = train(applied, tok, [Source("s", encode_pairs(tok, pairs, cfg, "s", ("negative", "positive")))], cfg, 0)
    losses = [loss for _, loss in result.loss_curve]
    assert sum(losses[-5:]) < sum(losses[:5])  # batches differ, so single steps are noisy
    for n, p in model.named_parameters():
        assert torch.equal(p, before[n]), n
    with pytest.raises(HarnessError, match="train.label"):
        m.apply(tiny_random_llama()[0], m.parse({}), ApplyContext(steps=1))


PROBE_SUITE = """\
name: probe
model: tiny-random-llama
threads: 1
train: {data: builtin:sentiment, template: "{{text}} |||", label: label, limit: 64, steps: 15, batch_size: 8, precision: fp32}
methods:
  - {name: probe, method: linear_probe}
evals:
  - {name: sst, data: builtin:sentiment, split: test, limit: 40, kind: classification, label: label,
     template: "Review: {{text}}\\nSentiment: ||| {{label}}", metrics: [accuracy, macro_f1], batch_size: 8}
"""


@pytest.mark.slow
def test_probe_suite_end_to_end_accuracy_from_predictions(write_suite, tmp_path):
    result = CliRunner().invoke(main, ["run", str(write_suite(PROBE_SUITE)), "--results", str(tmp_path / "r")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    for path in (tmp_path / "r" / "probe").glob("*/record.json"):
        record = json.loads(path.read_text())
        rows = [json.loads(line) for line in (path.parent / "predictions" / "sst.jsonl").read_text().splitlines()]
        assert len(rows) == 40 and {r["prediction"] for r in rows} <= {"negative", "positive"}
        gold = [r["references"][0] for r in rows]
        pred = [r["prediction"] for r in rows]
        score = record["metrics"]["sst"]
        assert score["accuracy"]["value"] == pytest.approx(accuracy_score(gold, pred))
        assert score["macro_f1"]["value"] == pytest.approx(f1_score(gold, pred, average="macro", zero_division=0))
        expected = "head" if record["method"] == "linear_probe" else "label words"
        assert score["accuracy"]["predicted_by"] == expected
