"""harness check's arithmetic on hand-built snapshots: Holm, tolerances, verdicts, comparability."""

from __future__ import annotations

import numpy as np
import pytest

from harness.errors import HarnessError
from harness.gate.check import check, holm, parse_tolerances, resolve_tolerance


def snap(scores: list[float], *, kind: str = "binary", fingerprint: str = "f1", ids=None, model: str = "m",
         settings=None, metric: str = "acc", higher: bool = True, **more_evals) -> dict:
    """A one-variant snapshot whose eval 'ev' has one metric with these per-example scores."""
    entry = {"value": float(np.mean(scores)), "ci_low": float(np.mean(scores)) - 0.1, "ci_high": float(np.mean(scores)) + 0.1,
             "n": len(scores), "kind": kind, "scores": scores, "settings": settings or {"metric_args": None},
             "higher_is_better": higher}
    evals = {"ev": {"data": "d|test", "fingerprint": fingerprint, "ids": ids or list(range(len(scores))), "metrics": {metric: entry}}}
    evals.update(more_evals)
    return {"suite": "s", "variants": [{"name": "full", "model": model, "seed": 0, "method": "full", "evals": evals}]}


def test_holm_matches_a_hand_worked_example():
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> raised to 0.06 (monotone)
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == [1.0, 1.0] and holm([]) == []


def test_tolerances_parse_and_resolve_most_specific_first():
    tol = parse_tolerances(["rouge1=0.02", "bleu=5%", "d2t/rouge1=0.1", "*=0.001"])
    assert tol == {"rouge1": 0.02, "bleu": "5%", "d2t/rouge1": 0.1, "*": 0.001}
    assert resolve_tolerance(tol, "d2t", "rouge1", 0.5) == (0.1, "0.1")
    assert resolve_tolerance(tol, "other", "rouge1", 0.5) == (0.02, "0.02")
    assert resolve_tolerance(tol, "x", "bleu", 40.0) == (pytest.approx(2.0), "5%")
    assert resolve_tolerance(tol, "x", "chrf", 40.0) == (0.001, "0.001")
    assert resolve_tolerance({}, "x", "chrf", 40.0) == (0.0, "0")
    for bad in ["rouge1", "rouge1=", "=0.1", "rouge1=-0.1", "rouge1=abc", "bleu=x%"]:
        with pytest.raises(HarnessError, match="METRIC=VALUE"):
            parse_tolerances([bad])


def test_a_clear_drop_regresses_and_an_unchanged_run_holds():
    good = [1.0] * 40
    worse = [1.0] * 20 + [0.0] * 20
    result = check(snap(good), snap(worse), {}, 0.05)
    (v,) = result.verdicts
    assert v.status == "regressed" and v.test == "mcnemar" and v.change == pytest.approx(-0.5)
    assert v.p_value < 1e-5 and result.failed(allow_missing=True)
    same = check(snap(good), snap(good), {}, 0.05)
    assert same.verdicts[0].status == "ok" and not same.failed(allow_missing=False)


def test_noise_is_not_significant_and_a_drop_within_tolerance_passes():
    base = [1.0, 0.0] * 20
    noisy = [1.0, 0.0] * 19 + [0.0, 0.0]  # one example flipped: 0.5 -> 0.475
    (v,) = check(snap(base), snap(noisy), {}, 0.05).verdicts
    assert v.status == "not significant" and v.p_value == 1.0  # McNemar, one discordant pair
    (w,) = check(snap([1.0] * 40), snap([1.0] * 20 + [0.0] * 20), {"acc": 0.6}, 0.05).verdicts
    assert w.status == "within tolerance"
    (r,) = check(snap([1.0] * 40), snap([1.0] * 20 + [0.0] * 20), {"acc": "60%"}, 0.05).verdicts
    assert r.status == "within tolerance" and r.tolerance == pytest.approx(0.6)


def test_holm_correction_counts_every_comparison():
    # One metric with p just under 0.05 alone; twenty other unchanged metrics make it non-significant.
    base, now = [1.0] * 30, [1.0] * 24 + [0.0] * 6  # McNemar: 6 discordant, p = 2/64 = 0.03125
    alone = check(snap(base), snap(now), {}, 0.05).verdicts[0]
    assert alone.p_value == pytest.approx(0.03125) and alone.status == "regressed"
    others = {f"e{i}": {"data": "d|test", "fingerprint": "f", "ids": [0, 1],
                        "metrics": {"acc": {"value": 1.0, "ci_low": 1.0, "ci_high": 1.0, "n": 2, "kind": "binary",
                                            "scores": [1.0, 1.0], "settings": {}, "higher_is_better": True}}}
              for i in range(20)}
    many = check(snap(base, **others), snap(now, **others), {}, 0.05)
    first = next(v for v in many.verdicts if v.eval == "ev")
    assert many.comparisons == 21 and first.p_holm == pytest.approx(21 * 0.03125)
    assert first.status == "not significant" and first.detectable > alone.detectable


def test_lower_is_better_metrics_drop_when_they_rise():
    (v,) = check(snap([0.1] * 10 + [0.2] * 10, kind="mean", metric="ter", higher=False),
                 snap([0.9] * 10 + [1.0] * 10, kind="mean", metric="ter", higher=False), {}, 0.05).verdicts
    assert v.drop == pytest.approx(0.8) and v.status == "regressed" and v.test == "paired_bootstrap"


def test_other_data_examples_settings_or_model_are_not_comparable():
    base = snap([1.0] * 10)
    cases = {
        "different data": snap([1.0] * 10, fingerprint="f2"),
        "different examples": snap([1.0] * 10, ids=list(range(5, 15))),
        "metric settings differ": snap([1.0] * 10, settings={"metric_args": {"ignore_case": True}}),
        "no variant 'full' on model m": snap([1.0] * 10, model="other"),
    }
    for reason, current in cases.items():
        result = check(base, current, {}, 0.05)
        (v,) = result.verdicts
        assert v.status == "not comparable" and reason in v.reason, (reason, v.reason)
        assert result.failed(allow_missing=False) and not result.failed(allow_missing=True)


def test_corpus_metrics_are_recomputed_from_predictions_on_both_sides():
    refs = [[f"the cat number {i} sat on the mat"] for i in range(30)]

    def corpus(predictions):
        entry = {"value": 0.0, "ci_low": 0.0, "ci_high": 0.0, "n": 30, "kind": "corpus", "predictions": predictions,
                 "references": refs, "settings": {}, "higher_is_better": True}
        return {"suite": "s", "variants": [{"name": "full", "model": "m", "seed": 0, "evals": {
            "ev": {"data": "d|t", "fingerprint": "f", "ids": list(range(30)), "metrics": {"bleu": entry}}}}]}

    good = corpus([r[0] for r in refs])
    bad = corpus(["a dog" for _ in refs])
    good["variants"][0]["evals"]["ev"]["metrics"]["bleu"]["value"] = 100.0
    (v,) = check(good, bad, {}, 0.05).verdicts
    assert v.test == "paired_bootstrap" and v.ci_high < -50 and v.status == "regressed"
