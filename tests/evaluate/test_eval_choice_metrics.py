"""acc and acc_norm worked out by hand, per subject, and recomputed from saved rows (as
`harness score` does, through the registry and rescore's column binding)."""

from __future__ import annotations

import numpy as np
import pytest

from harness.analysis.rescore import _bind
from harness.errors import HarnessError
from harness.metrics.choice import acc, acc_norm, score_choices
from harness.registry import METRICS

# Three questions. Q1: B most likely either way (gold B). Q2: C has the highest total but
# is long; per character A wins (gold A). Q3: a tie between A and D goes to A (gold D).
LOGPROBS = [[-3.0, -1.0, -2.0, -4.0], [-4.0, -9.0, -3.0, -9.0], [-1.0, -2.0, -3.0, -1.0]]
LENGTHS = [[1, 1, 1, 1], [4, 2, 1, 2], [1, 1, 1, 1]]
PREDICTIONS = ["B", "C", "A"]
REFERENCES = [["B"], ["A"], ["D"]]
SUBJECTS = ["x", "x", "y"]


def rows():
    return [{"id": i, "prediction": p, "references": r, "choice_logprobs": lp, "choice_lengths": ln, "subject": s,
             "scores": {}} for i, (p, r, lp, ln, s) in enumerate(zip(PREDICTIONS, REFERENCES, LOGPROBS, LENGTHS, SUBJECTS))]


def test_acc_by_hand_with_per_subject_accuracy():
    result = acc(PREDICTIONS, REFERENCES, subjects=SUBJECTS)
    assert result.per_example == [1.0, 0.0, 0.0]
    assert result.value == pytest.approx(1 / 3) and result.n == 3
    assert result.extra["per_subject"] == {"x": 0.5, "y": 0.0}
    assert result.extra["per_subject_n"] == {"x": 2, "y": 1}
    assert result.ci_low <= result.value <= result.ci_high


def test_acc_norm_divides_by_length_and_breaks_ties_to_the_first_choice():
    result = acc_norm(PREDICTIONS, REFERENCES, choice_logprobs=LOGPROBS, choice_lengths=LENGTHS)
    # Q2 per character: -1, -4.5, -3, -4.5 -> A (gold); Q3 tie A/D -> A (not gold)
    assert result.per_example == [1.0, 1.0, 0.0]
    assert result.value == pytest.approx(2 / 3)
    assert "per_subject" not in result.extra


def test_acc_norm_equals_numpy_argmax_on_random_scores():
    rng = np.random.default_rng(0)
    lp = rng.normal(-5, 2, size=(200, 4))
    ln = rng.integers(1, 20, size=(200, 4))
    gold = rng.integers(0, 4, size=200)
    refs = [["ABCD"[g]] for g in gold]
    expected = float(np.mean(np.argmax(lp / ln, axis=1) == gold))
    result = acc_norm(["A"] * 200, refs, choice_logprobs=lp.tolist(), choice_lengths=ln.tolist())
    assert result.value == pytest.approx(expected)


def test_score_choices_recomputes_from_rows():
    out = score_choices(rows())
    assert set(out) == {"acc", "acc_norm"}
    assert out["acc"].per_example == [1.0, 0.0, 0.0] and out["acc_norm"].per_example == [1.0, 1.0, 0.0]
    assert out["acc"].extra["per_subject"] == {"x": 0.5, "y": 0.0}
    assert score_choices(rows(), ["acc"])["acc"].value == pytest.approx(1 / 3)


def test_rescore_binding_feeds_the_registered_metrics_from_row_columns():
    # harness score binds a metric's parameters to the rows' columns by name
    for name in ("acc", "acc_norm"):
        fn = METRICS.load(name)
        kwargs = _bind(fn, rows())
        assert kwargs is not None and kwargs["subjects"] == SUBJECTS
        assert fn(**kwargs).value == score_choices(rows())[name].value
    assert METRICS.get("acc").meta["kind"] == "multiple_choice"


@pytest.mark.parametrize("bad, message", [
    ({"references": ["AB"]}, "gold answer must be one letter"),
    ({"references": ["E"]}, "gold answer E is not among its 4 choices"),
    ({"choice_lengths": [1, 1]}, "choice log-likelihoods but lengths"),
    ({"choice_lengths": [1, 0, 1, 1]}, "positive length"),
])
def test_malformed_rows_are_harness_errors(bad, message):
    broken = rows()
    broken[1].update(bad)
    with pytest.raises(HarnessError, match=message):
        score_choices(broken)


def test_rows_without_choice_scores_say_what_is_missing():
    broken = rows()
    del broken[2]["choice_logprobs"]
    with pytest.raises(HarnessError, match="prediction row 3: no choice_logprobs"):
        score_choices(broken)
