"""Parity with lm-eval: on the same MMLU questions and the same model, our multiple_choice
eval and lm-eval's simple_evaluate give the same prompts, the same choice log-likelihoods
(to float rounding) and exactly the same acc and acc_norm: lettered choices (lm-eval's mmlu)
0-shot and 5-shot, and choice texts (its mmlu_continuation) 2-shot.

lm-eval's side is its own task YAML per subject (lm_eval/tasks/mmlu/default/mmlu_SUBJECT.yaml,
which includes _default_template_yaml, and continuation/mmlu_SUBJECT.yaml, which includes
_continuation_template_yaml), with only the dataset swapped for local files: our side reads the first questions of each subject's test CSV (copied into
tmp_path) and its dev CSV; lm-eval reads the same rows converted to cais/mmlu's fields
(question, subject, choices, answer index) as json, because its csv loader would let
pandas retype answers such as "0.50". Slow: the real built-in model on two small subjects.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from conftest import ROOT, SHARED_DATA

from harness.evaluate.scoring import evaluate
from harness.suite.schema import EvalSpec

MMLU = SHARED_DATA / "mmlu"
SUBJECTS = ["abstract_algebra", "world_religions"]  # the two with the shortest questions and shots
QUESTIONS = 16  # per subject: about a minute for both sides in all three settings on 2 cores (the full comparison: benchmarks/mmlu_speed.py)

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not MMLU.is_dir(), reason=f"shared MMLU data not found at {MMLU}")]


@pytest.fixture(scope="module")
def offline():
    """Nothing may reach for the hub: the variables, and the flags libraries read at import."""
    import datasets.config
    import huggingface_hub.constants

    saved = {k: os.environ.get(k) for k in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE")}
    flags = (datasets.config.HF_HUB_OFFLINE, huggingface_hub.constants.HF_HUB_OFFLINE)
    os.environ.update({k: "1" for k in saved})
    datasets.config.HF_HUB_OFFLINE = huggingface_hub.constants.HF_HUB_OFFLINE = True
    yield
    for k, v in saved.items():
        os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    datasets.config.HF_HUB_OFFLINE, huggingface_hub.constants.HF_HUB_OFFLINE = flags


@pytest.fixture(scope="module")
def smollm2():
    from harness.models.smollm2 import load

    return load()


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> tuple[Path, dict[str, list[str]]]:
    """(our MMLU folder, lm-eval task YAMLs per format) over the same rows: the benchmark's
    builder (benchmarks/mmlu_speed.py), which reads the same shared files."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from mmlu_speed import local_tasks

    return local_tasks(tmp_path_factory.mktemp("parity"), SUBJECTS, QUESTIONS, formats=("letters", "continuation"))


def lm_eval_run(model, tokenizer, yamls: list[str], shots: int) -> dict:
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=8)
    return simple_evaluate(model=lm, tasks=yamls, num_fewshot=shots, task_manager=TaskManager(include_defaults=False),
                           log_samples=True, bootstrap_iters=0)


@pytest.mark.parametrize("fmt, shots", [("letters", 0), ("letters", 5), ("continuation", 2)])
def test_acc_and_acc_norm_equal_lm_evals(offline, smollm2, data, fmt, shots):
    model, tokenizer = smollm2
    folder, yamls = data
    ev = EvalSpec(name="mmlu", data=f"mmlu:{folder}", kind="multiple_choice", subjects=SUBJECTS, shots=shots,
                  format=fmt, metrics=["acc", "acc_norm"], batch_size=8)
    ours, rows = evaluate(model, tokenizer, ev, Path("."))
    theirs = lm_eval_run(model, tokenizer, yamls[fmt], shots)

    assert len(rows) == len(SUBJECTS) * QUESTIONS
    for subject in SUBJECTS:
        task = f"local_{fmt}_{subject}"
        samples = sorted(theirs["samples"][task], key=lambda s: s["doc_id"])
        mine = [r for r in rows if r["subject"] == subject]
        assert len(samples) == len(mine) == QUESTIONS
        for row, sample in zip(mine, samples):
            scored = "ABCD" if fmt == "letters" else row["choices"]
            assert [list(a) for a in sample["arguments"]] == [[row["prompt"], f" {x}"] for x in scored]
            # float rounding: the head runs on the read positions only, and a prefix shared by
            # several questions runs once (harness/evaluate/loglik.py), so sums come in another order
            assert [r[0] for r in sample["filtered_resps"]] == pytest.approx(row["choice_logprobs"], abs=3e-4)
            assert row["scores"]["acc"] == sample["acc"] and row["scores"]["acc_norm"] == sample["acc_norm"]
        result = theirs["results"][task]
        # the same count of right answers, subject by subject
        assert round(ours["acc"]["per_subject"][subject] * QUESTIONS) == round(result["acc,none"] * QUESTIONS)
        assert round(ours["acc_norm"]["per_subject"][subject] * QUESTIONS) == round(result["acc_norm,none"] * QUESTIONS)
    # and over both subjects together
    right = {m: sum(round(theirs["results"][f"local_{fmt}_{s}"][f"{m},none"] * QUESTIONS) for s in SUBJECTS) for m in ("acc", "acc_norm")}
    for metric in ("acc", "acc_norm"):
        assert round(ours[metric]["value"] * len(rows)) == right[metric]
