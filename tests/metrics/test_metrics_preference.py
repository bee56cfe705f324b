"""Preference metrics worked out by hand on fixed log-probabilities, recomputed from saved rows
(as `harness score` does, through the registry and rescore's column binding), and their
registration (scale, pairing) for the report and the paired comparisons."""

from __future__ import annotations

import pytest

from harness.analysis.paired import pairing
from harness.analysis.rescore import _bind
from harness.errors import HarnessError
from harness.metrics.preference import (
    logprob_margin,
    preference_accuracy,
    reward_accuracy,
    reward_margin,
    score_preferences,
)
from harness.registry import EVAL_KINDS, METRICS

# Four pairs. Policy margins c - r: 1, -1, 0 (a tie: not preferred), 4.
CHOSEN = [-1.0, -5.0, -3.0, -2.0]
REJECTED = [-2.0, -4.0, -3.0, -6.0]
PREDICTIONS = ["chosen", "rejected", "rejected", "chosen"]
REFERENCES = [["chosen"]] * 4
# Rewards against the untuned model: r(chosen) = 0.5, 0, -1, 0; r(rejected) = -1, 0, 1, -3.
REF_CHOSEN = [-1.5, -5.0, -2.0, -2.0]
REF_REJECTED = [-1.0, -4.0, -4.0, -3.0]
LOGPS = {"chosen_logps": CHOSEN, "rejected_logps": REJECTED}
REFS = {"ref_chosen_logps": REF_CHOSEN, "ref_rejected_logps": REF_REJECTED}


def rows(with_ref: bool = True):
    out = []
    for i in range(4):
        row = {"id": i, "prediction": PREDICTIONS[i], "references": REFERENCES[i], "chosen_logp": CHOSEN[i],
               "rejected_logp": REJECTED[i], "scores": {}}
        if with_ref:
            row |= {"ref_chosen_logp": REF_CHOSEN[i], "ref_rejected_logp": REF_REJECTED[i]}
        out.append(row)
    return out


def test_preference_accuracy_and_logprob_margin_by_hand():
    acc = preference_accuracy(PREDICTIONS, REFERENCES)
    assert acc.per_example == [1.0, 0.0, 0.0, 1.0] and acc.value == 0.5 and acc.n == 4
    margin = logprob_margin(PREDICTIONS, REFERENCES, **LOGPS)
    assert margin.per_example == [1.0, -1.0, 0.0, 4.0] and margin.value == 1.0
    assert margin.ci_low <= margin.value <= margin.ci_high


def test_reward_metrics_by_hand_a_tie_counting_half():
    acc = reward_accuracy(PREDICTIONS, REFERENCES, **LOGPS, **REFS)
    assert acc.per_example == [1.0, 0.5, 0.0, 1.0] and acc.value == 0.625
    margin = reward_margin(PREDICTIONS, REFERENCES, **LOGPS, **REFS)
    assert margin.per_example == [1.5, 0.0, -2.0, 3.0] and margin.value == 0.625
    assert margin.extra == {"chosen_reward": -0.125, "rejected_reward": -0.75}


def test_the_reference_model_itself_scores_half_and_zero():
    same = {"ref_chosen_logps": CHOSEN, "ref_rejected_logps": REJECTED}
    acc = reward_accuracy(PREDICTIONS, REFERENCES, **LOGPS, **same)
    assert acc.value == 0.5 and acc.ci_low == acc.ci_high == 0.5
    assert reward_margin(PREDICTIONS, REFERENCES, **LOGPS, **same).value == 0.0


def test_score_preferences_and_the_rescore_binding_agree():
    out = score_preferences(rows())
    assert list(out) == ["preference_accuracy", "logprob_margin", "reward_accuracy", "reward_margin"]
    assert [out[m].value for m in out] == [0.5, 1.0, 0.625, 0.625]
    for name in out:
        fn = METRICS.load(name)
        kwargs = _bind(fn, rows())
        assert kwargs is not None and fn(**kwargs).to_record() == out[name].to_record()
    # rows without the untuned model's columns: harness score leaves a reward metric alone
    assert _bind(METRICS.load("reward_margin"), rows(with_ref=False)) is None


def test_reward_metrics_without_ref_columns_say_rerun():
    assert set(score_preferences(rows(with_ref=False), ["preference_accuracy", "logprob_margin"])) == {
        "preference_accuracy", "logprob_margin"}
    with pytest.raises(HarnessError, match=r"reward_accuracy compares with the untuned model's .* prediction row 1 lacks: rerun the eval"):
        score_preferences(rows(with_ref=False), ["preference_accuracy", "reward_accuracy"])


@pytest.mark.parametrize("change, message", [
    ({"chosen_logp": None}, r"pair 3: chosen_logps is None, not a finite log-probability"),
    ({"rejected_logp": float("nan")}, r"pair 3: rejected_logps is nan"),
    ({"references": ["A"]}, r"example 3: the gold answer of a pair is \[\"chosen\"\]"),
])
def test_malformed_rows_are_harness_errors(change, message):
    broken = rows()
    broken[2].update(change)
    with pytest.raises(HarnessError, match=message):
        score_preferences(broken, ["logprob_margin"])


def test_rows_without_log_probabilities_say_what_is_missing():
    broken = rows()
    del broken[1]["rejected_logp"]
    with pytest.raises(HarnessError, match="prediction row 2: no rejected_logp; rerun the eval"):
        score_preferences(broken)
    with pytest.raises(HarnessError, match="'acc' is not a preference metric"):
        score_preferences(rows(), ["acc"])


def test_registration():
    for name, scale, paired in (("preference_accuracy", "0-1", "binary"), ("logprob_margin", "nats", "mean"),
                                ("reward_accuracy", "0-1", "mean"), ("reward_margin", "nats", "mean")):
        meta = METRICS.get(name).meta
        assert (meta["kind"], meta["scale"], meta["higher_is_better"], pairing(name)) == ("preference", scale, True, paired)
    meta = EVAL_KINDS.get("preference").meta
    assert meta["rescore"] == "columns" and meta["families"] == ("causal",)
    assert meta["before_tuning"] == "harness.evaluate.preference:before_tuning"
