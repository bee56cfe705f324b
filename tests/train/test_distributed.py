"""A variant on two "GPUs" trains as two real processes and ends where one process ends.

How it starts what it needs: `harness run` through CliRunner on this GPU-less machine; the
variant with `resources: {gpus: 2}` is launched by torchrun (harness/run/launch.py) as two
worker processes that join a gloo process group, and accelerate wraps the model in DDP.
Each rank trains on its share of every batch; the one-process variant beside it trains on
the whole batches. The same for preference stages (DPO with full fine-tuning, ORPO with LoRA).

Why the tolerance is 1e-5: both runs take the same examples in the same order with the
same starting weights, and each rank's loss is weighted by its share of the batch's loss
tokens (harness/train/parallel.py), so the gradients are equal in exact arithmetic; what
differs is float32 summation order (two partial sums all-reduced instead of one sum), about
1e-7 relative per step, which a few AdamW steps on a 0.1M-parameter model keep far below
1e-5. A batch of 3 splits unevenly (2 and 1 examples, different token counts): an unweighted
mean of the two ranks' mean losses differs from the one-process loss by 4e-3 at the first step (tried).
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from safetensors.torch import load_file

from harness.cli import main
from harness.records.store import read_record

SUITE = """\
name: ddp
model: tiny-random-llama
train:
  data: builtin:data2text
  limit: 48
  steps: 4
  batch_size: 3
  grad_accum: 2
  max_length: 256
  precision: fp32
  learning_rate: 1.0e-3
  save: true
methods:
  - {name: one, method: full}
  - {name: two, method: full, resources: {gpus: 2}}
  - {name: unfreezing, method: ulmfit, params: {gradual_unfreezing: true}, resources: {gpus: 2}}
  - {name: dpo-one, method: full, train: &dpo {objective: dpo, data: builtin:faithfulness, save: false}}
  - {name: dpo-two, method: full, train: *dpo, resources: {gpus: 2}}
  - {name: orpo-one, method: lora, train: &orpo {objective: dpo, loss_type: orpo, data: builtin:faithfulness, save: false}}
  - {name: orpo-two, method: lora, train: *orpo, resources: {gpus: 2}}
evals:
  - name: d2t
    data: builtin:data2text
    split: test
    limit: 4
    max_new_tokens: 4
    metrics: [rouge1]
"""


@pytest.mark.slow
def test_two_process_ddp_equals_one_process_at_the_same_batch(write_suite, tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))  # where the CPU's peak is measured
    result = CliRunner().invoke(main, ["run", str(write_suite(SUITE)), "--results", str(tmp_path / "r"),
                                       "--leaderboard", str(tmp_path / "lb.html")])
    assert result.exit_code == 1, result.output  # the unfreezing variant cannot run on two processes
    found = {r.name: (p.parent, r) for p, r in ((p, read_record(p)) for p in (tmp_path / "r" / "ddp").glob("*/record.json"))}
    assert found["unfreezing"][1].error.startswith("HarnessError: gradual unfreezing cannot run on several processes")
    (one_dir, one), (two_dir, two) = found["one"], found["two"]
    assert one.parallel == {"world_size": 1, "strategy": None, "backend": None}
    assert two.parallel == {"world_size": 2, "strategy": "ddp", "backend": "gloo"}
    assert two.dtypes == {"weights": "fp32", "compute": "fp32", "optimizer": "adamw", "optimizer_state": "fp32"}
    # the loss curve, step by step
    assert [s for s, _ in two.train_curve] == [1, 2, 3, 4]
    for (_, a), (_, b) in zip(one.train_curve, two.train_curve):
        assert b == pytest.approx(a, abs=1e-5)
    assert one.train_curve[0] != one.train_curve[-1]  # it trained
    # the weights each ended with (rank 0's, saved once)
    w1, w2 = load_file(one_dir / "weights" / "model.safetensors"), load_file(two_dir / "weights" / "model.safetensors")
    assert w1.keys() == w2.keys()
    assert max(float((w1[k] - w2[k]).abs().max()) for k in w1) < 1e-5
    # rank 0 alone wrote the record and predictions; both ranks counted their tokens
    assert not list(two_dir.glob("traceback*"))
    assert two.cost.tokens_per_second and one.cost.train_seconds
    # the same tokens through the same model: the same FLOPs; MFU against both processes' peak
    assert two.cost.train_flops == pytest.approx(one.cost.train_flops) and two.cost.mfu and one.cost.mfu
    assert two.metrics["d2t"]["rouge1"].value == one.metrics["d2t"]["rouge1"].value
    # Preference stages too: each rank scores its share of the pairs against the reference
    # (a copy of the weights on each rank; adapters disabled for LoRA); ORPO adds the
    # supervised loss per answer token, which the ranks split unevenly.
    for name in ("dpo", "orpo"):
        one, two = found[f"{name}-one"][1], found[f"{name}-two"][1]
        assert two.parallel["world_size"] == 2
        assert [s for s, _ in two.train_curve] == [1, 2, 3, 4]
        for (_, a), (_, b) in zip(one.train_curve, two.train_curve):
            assert b == pytest.approx(a, abs=1e-5)
        for a, b in zip(one.preference_curve, two.preference_curve):
            assert b == pytest.approx(a, abs=1e-5)
        assert one.train_curve[0] != one.train_curve[-1]


EVALS_ONLY = """\
name: dp-eval
model: tiny-random-llama
{resources}
evals:
  - {{name: d2t, data: builtin:data2text, split: test, limit: 7, batch_size: 2, max_new_tokens: 6, metrics: [rouge1]}}
  - {{name: mc, kind: multiple_choice, data: builtin:arithmetic, limit: 7, batch_size: 2, metrics: [acc]}}
"""


@pytest.mark.slow
def test_two_ranks_split_the_evaluation_and_gather_exactly_what_one_process_predicts(write_suite, tmp_path):
    """The same (untrained) model evaluated by one process and by two ranks, each running every
    other batch of 2 (7 examples: 4 batches, the last of one): the gathered predictions are one
    process's, in the same order, each choice's log-probability to float rounding (a rank
    runs on one thread, the single process on two; PyTorch's fused attention kernel splits
    its work by thread, about 1e-6 apart)."""
    runs = {}
    for name, resources in (("one", ""), ("two", "resources: {gpus: 2}")):
        suite = write_suite(EVALS_ONLY.format(resources=resources), f"{name}.yaml")
        result = CliRunner().invoke(main, ["run", str(suite), "--results", str(tmp_path / name),
                                           "--leaderboard", str(tmp_path / f"{name}.html")])
        assert result.exit_code == 0, result.output
        (folder,) = (tmp_path / name / "dp-eval").glob("baseline-*")
        runs[name] = folder
    assert runs["one"].name == runs["two"].name  # placement is not part of the id
    assert read_record(runs["two"] / "record.json").parallel["world_size"] == 2
    for ev in ("d2t", "mc"):
        one = [json.loads(line) for line in (runs["one"] / "predictions" / f"{ev}.jsonl").read_text().splitlines()]
        two = [json.loads(line) for line in (runs["two"] / "predictions" / f"{ev}.jsonl").read_text().splitlines()]
        assert len(one) == 7
        for a, b in zip(one, two, strict=True):
            got, want = b.pop("choice_logprobs", None), a.pop("choice_logprobs", None)
            assert a == b  # ids, prompts, predictions, scores: exactly
            assert (got is None) == (want is None)
            if got is not None:
                assert got == pytest.approx(want, abs=1e-5)
    log = (runs["two"] / "log.txt").read_text()  # each rank ran its own batches: 4 and 3 of the 7 examples
    assert "rank 0 of 2 computed 4 of 7 results" in log and "rank 1 of 2 computed 3 of 7 results" in log
