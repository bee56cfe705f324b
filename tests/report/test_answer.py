"""The answer the leaderboard opens with, and the comparisons it stands on.

Hand-made records carry hand-chosen stored comparisons, so every sentence is known exactly;
a suite folder with predictions then goes through compare_suite to check which baseline each
comparison is against (zero-shot for vs_baseline and forgetting, the best-scoring one for
vs_strongest_baseline), whatever order the records were written in.
"""

from __future__ import annotations

import math
import statistics

import pytest
from recordsets import record, score, write

from harness.analysis.compare import compare_suite
from harness.analysis.paired import paired_test
from harness.records.store import read_record
from harness.report import build_table, render
from harness.report.answer import answer, examples_needed


def _test(delta, lo, hi, p, **named):
    return {"delta": delta, "ci_low": lo, "ci_high": hi, "p_value": p, "test": "paired_bootstrap", "n": 100, **named}


def _cost(trainable, peak, seconds):
    return {"trainable_params": trainable, "total_params": 1000, "peak_memory_bytes": peak, "train_seconds": seconds}


EVALS = [{"name": "d2t", "metrics": ["rouge1"]}, {"name": "reviews", "metrics": ["accuracy"], "retention": True}]


def _board(folder, runner_up=None):
    """full best; lora-r8 and prompt within noise of it; ia3 significantly worse; two baselines."""
    worse = _test(-0.3, -0.4, -0.2, 0.0, best="full")
    lora_vs_best = runner_up or _test(-0.004, -0.02, 0.01, 0.41, best="full")
    few = record("baseline-5shot", "baseline", metrics={"d2t": {"rouge1": score(0.2, vs_best=worse)}, "reviews": {"accuracy": 0.8}},
                 evals=EVALS, cost=_cost(0, 1_000_000, None))
    few.params = {"shots": 5}
    records = [
        record("baseline", "baseline", metrics={"d2t": {"rouge1": score(0.1, vs_best=worse)}, "reviews": {"accuracy": 0.8}},
               evals=EVALS, cost=_cost(0, 1_000_000, None)),
        few,
        record("full", "full", evals=EVALS, cost=_cost(1000, 3_000_000, 50.0), metrics={
            "d2t": {"rouge1": score(0.52, vs_strongest_baseline=_test(0.32, 0.22, 0.42, 0.0, baseline="baseline-5shot"))},
            "reviews": {"accuracy": 0.6}}),
        record("lora-r8", "lora", evals=EVALS, cost=_cost(18, 2_040_000, 60.0),
               metrics={"d2t": {"rouge1": score(0.516, vs_best=lora_vs_best)}, "reviews": {"accuracy": 0.8}}),
        record("prompt", "prompt_tuning", evals=EVALS, cost=_cost(50, 2_500_000, 40.0),
               metrics={"d2t": {"rouge1": score(0.51, vs_best=_test(-0.01, -0.03, 0.012, 0.3, best="full"))}, "reviews": {"accuracy": 0.8}}),
        record("ia3", "ia3", evals=EVALS, cost=_cost(5, 1_500_000, 10.0),
               metrics={"d2t": {"rouge1": score(0.5, vs_best=_test(-0.02, -0.035, -0.005, 0.01, best="full"))}, "reviews": {"accuracy": 0.8}}),
    ]
    return write(folder, records)


def test_the_answer_states_best_ties_cheapest_gain_and_what_would_separate_them(tmp_path):
    findings = answer(build_table(_board(tmp_path)))
    assert [(f.model, f.column.key) for f in findings] == [("tiny", "metric:d2t/rouge1")]  # reviews is a retention eval
    # 2,870: se = 0.015 / 1.96 = 0.0076531; (1.96 + 0.84) * se / 0.004 = 5.35714; squared 28.699; times 100 is 2869.9
    assert findings[0].sentences == [
        "full is best (0.520). Within noise of it (paired test, p ≥ 0.05): lora-r8 and prompt.",
        # trainable 18 of 1000 and peak memory 2.04 of 3.0 MB: lora-r8; train time 40 of 50 s: prompt; ia3 is cheaper but worse
        "lora-r8 is within noise of full (delta -0.004, 95% CI [-0.020, 0.010]) at 1.8% of its trainable parameters "
        "and 68% of its peak memory.",
        "prompt is within noise of full (delta -0.010, 95% CI [-0.030, 0.012]) at 80% of its train time.",
        "full beats the strongest baseline (baseline-5shot) by +0.320 rouge1 (95% CI [0.220, 0.420], p < 0.001).",
        "The evidence cannot separate full from the runner-up, lora-r8 (delta -0.004, 95% CI [-0.020, 0.010], p = 0.41): "
        "about 2,870 examples would separate them if the difference is real (100 were scored).",
    ]


def test_examples_needed_by_hand():
    assert examples_needed(-0.004, -0.02, 0.01, 100) == 2870
    # d = 0.05 with half-width 0.1 at n = 50: se = 0.05102, 2.8 * se / 0.05 = 2.857, squared 8.163, times 50 is 408.2
    assert examples_needed(0.05, -0.05, 0.15, 50) == 409
    assert examples_needed(0.0, -0.1, 0.1, 50) is None


def test_a_zero_difference_and_a_clear_winner_are_said_so(tmp_path):
    zero = answer(build_table(_board(tmp_path / "a", _test(0.0, -0.01, 0.01, 1.0, best="full"))))[0].sentences
    assert zero[-1] == ("The evidence cannot separate full from the runner-up, lora-r8 (delta 0.000, 95% CI [-0.010, 0.010], "
                        "p = 1): the observed difference is zero.")
    clear = answer(build_table(_board(tmp_path / "b", _test(-0.004, -0.006, -0.002, 0.002, best="full"))))[0].sentences
    assert clear[0] == "full is best (0.520). Within noise of it (paired test, p ≥ 0.05): prompt."
    assert clear[-1] == "The evidence separates full from the runner-up, lora-r8 (delta -0.004, 95% CI [-0.006, -0.002], p = 0.002)."
    # the cheapest not worse by trainable parameters is now prompt (50 of 1000); by memory too (2.5 of 3.0 MB)
    assert clear[1] == ("prompt is within noise of full (delta -0.010, 95% CI [-0.030, 0.012]) at 5% of its trainable "
                        "parameters, 83% of its peak memory and 80% of its train time.")


def test_nothing_cheaper_is_claimed_when_the_best_is_cheapest_and_lower_is_better_reads_right(tmp_path):
    write(tmp_path, [
        record("baseline", "baseline", metrics={"mt": {"ter": score(80.0, vs_best=_test(30.0, 25.0, 35.0, 0.0, best="lora"))}}),
        record("lora", "lora", cost=_cost(10, 1_000_000, 5.0), metrics={"mt": {"ter": score(
            50.0, vs_strongest_baseline=_test(-30.0, -35.0, -25.0, 0.0, baseline="baseline"))}}),
        record("full", "full", cost=_cost(1000, 3_000_000, 9.0),
               metrics={"mt": {"ter": score(51.0, vs_best=_test(1.0, -2.0, 4.0, 0.6, best="lora"))}}),
    ])
    sentences = answer(build_table(tmp_path))[0].sentences
    assert sentences[0] == "lora is best (50.00). Within noise of it (paired test, p ≥ 0.05): full."
    assert not any("within noise of lora" in s for s in sentences)  # full costs more on every count
    # one baseline: "the baseline"; TER falls when the variant is better
    assert sentences[1] == "lora beats the baseline by -30.00 ter (95% CI [-35.00, -25.00], p < 0.001)."
    # d = 1, half-width 3 at n = 100: se = 1.5306, 2.8 * se = 4.2857, squared 18.367, times 100 is 1836.7
    assert sentences[2].endswith("about 1,837 examples would separate them if the difference is real (100 were scored).")


def test_markdown_and_html_open_with_the_answer(tmp_path):
    table = build_table(_board(tmp_path))
    md = render([table], "md")
    assert md.index("### The answer") < md.index("### d2t (95% intervals)")
    assert "**d2t rouge1 (0-1)**\n\n- full is best (0.520)." in md
    assert "- full beats the strongest baseline (baseline-5shot) by +0.320 rouge1" in md
    page = render([build_table(tmp_path)], "html")
    assert page.index('<section id="answer">') < page.index('<section id="leaderboard">')
    assert "<li>full beats the strongest baseline (baseline-5shot) by +0.320 rouge1 (95% CI [0.220, 0.420], p &lt; 0.001).</li>" in page


# ---- the stored comparisons, from predictions ------------------------------------------

ZERO = [0.10, 0.12, 0.08, 0.11, 0.09, 0.10, 0.13, 0.07, 0.10, 0.10]
FIVE = [0.30, 0.28, 0.35, 0.31, 0.29, 0.30, 0.27, 0.33, 0.30, 0.27]
FULL = [0.60, 0.62, 0.58, 0.61, 0.64, 0.57, 0.60, 0.59, 0.61, 0.58]
RETAIN = {"zero": [1, 1, 1, 1, 0, 1, 1, 1, 0, 1], "five": [1] * 10, "full": [1, 0, 1, 1, 0, 1, 0, 1, 0, 1]}


def _rows(rouge, acc):
    return {"d2t": [{"id": i, "prediction": "p", "references": ["r"], "scores": {"rouge1": v}} for i, v in enumerate(rouge)],
            "reviews": [{"id": i, "prediction": "pos", "references": ["pos"], "scores": {"accuracy": float(a)}} for i, a in enumerate(acc)]}


def _metrics(rouge, acc):
    return {"d2t": {"rouge1": statistics.fmean(rouge)}, "reviews": {"accuracy": statistics.fmean(acc)}}


@pytest.fixture
def scored(tmp_path):
    zero = record("baseline", "baseline", metrics=_metrics(ZERO, RETAIN["zero"]), evals=EVALS, variant_id="zero",
                  finished="2026-01-01T00:00:00+00:00")
    # the few-shot baseline ran last: "the newest baseline" would pick it, the zero-shot rule must not
    five = record("baseline-5shot", "baseline", metrics=_metrics(FIVE, RETAIN["five"]), evals=EVALS, variant_id="five",
                  finished="2026-01-03T00:00:00+00:00")
    five.params = {"shots": 5}
    full = record("full", "full", metrics=_metrics(FULL, RETAIN["full"]), evals=EVALS, variant_id="full",
                  finished="2026-01-02T00:00:00+00:00")
    write(tmp_path, [zero, five, full], {"zero": _rows(ZERO, RETAIN["zero"]), "five": _rows(FIVE, RETAIN["five"]),
                                         "full": _rows(FULL, RETAIN["full"])})
    summary = compare_suite(tmp_path)
    return tmp_path, summary, {name: read_record(tmp_path / name / "record.json") for name in ("zero", "five", "full")}


def test_vs_baseline_and_forgetting_use_the_zero_shot_baseline_even_when_a_few_shot_one_is_newer(scored):
    _, summary, r = scored
    assert not summary.notes and summary.with_baseline == 2  # full, and the few-shot baseline
    vs = r["full"].metrics["d2t"]["rouge1"].model_extra["vs_baseline"]
    assert vs == paired_test(ZERO, FULL, binary=False)
    assert vs["delta"] == pytest.approx(0.6 - 0.1)  # the means: 6.00 / 10 and 1.00 / 10
    # forgetting: full against the zero-shot model (0.8 right), not the 5-shot prompt (1.0)
    forgot = r["full"].forgetting["reviews"]["accuracy"]
    assert forgot["base"] == pytest.approx(0.8) and forgot["tuned"] == pytest.approx(0.6) and forgot["delta"] == pytest.approx(-0.2)
    # a few-shot baseline is a variant too: compared with the zero-shot one; it forgets nothing (it trains nothing)
    assert r["five"].metrics["d2t"]["rouge1"].model_extra["vs_baseline"] == paired_test(ZERO, FIVE, binary=False)
    assert r["five"].forgetting == {}
    assert "vs_baseline" not in r["zero"].metrics["d2t"]["rouge1"].model_extra  # never the baseline against itself


def test_vs_strongest_baseline_is_against_the_best_scoring_baseline_per_metric(scored):
    _, _, r = scored
    assert r["full"].metrics["d2t"]["rouge1"].model_extra["vs_strongest_baseline"] == {
        **paired_test(FIVE, FULL, binary=False), "baseline": "baseline-5shot"}
    assert r["zero"].metrics["d2t"]["rouge1"].model_extra["vs_strongest_baseline"]["baseline"] == "baseline-5shot"
    assert "vs_strongest_baseline" not in r["five"].metrics["d2t"]["rouge1"].model_extra  # the strongest itself
    # on reviews the 5-shot baseline is also the strongest (1.0 against 0.8); McNemar there, as for vs_baseline
    assert r["full"].metrics["reviews"]["accuracy"].model_extra["vs_strongest_baseline"]["test"] == "mcnemar"


def test_the_answer_from_compared_records_names_the_few_shot_baseline(scored):
    folder, _, r = scored
    sentences = answer(build_table(folder))[0].sentences
    gain = r["full"].metrics["d2t"]["rouge1"].model_extra["vs_strongest_baseline"]
    assert math.isclose(gain["delta"], 0.6 - 0.3)
    assert sentences[1] == (f"full beats the strongest baseline (baseline-5shot) by +0.300 rouge1 "
                            f"(95% CI [{gain['ci_low']:.3f}, {gain['ci_high']:.3f}], p < 0.001).")
    assert sentences[2].startswith("The evidence separates full from the runner-up, baseline-5shot (delta -0.300")


def test_with_several_seeds_each_claim_quotes_the_seed_nearest_its_edge(tmp_path):
    full = lambda seed, value, **extra: record("full", "full", seed, cost=_cost(1000, 2_000_000, 10.0),  # noqa: E731
                                               metrics={"d2t": {"rouge1": score(value, **extra)}})
    lora = lambda seed, value, vs: record("lora", "lora", seed, cost=_cost(10, 2_000_000, 20.0),  # noqa: E731
                                          metrics={"d2t": {"rouge1": score(value, vs_best=vs)}})
    write(tmp_path, [
        record("baseline", "baseline", metrics={"d2t": {"rouge1": score(0.1, vs_best=_test(-0.42, -0.5, -0.3, 0.0, best="full"))}}),
        full(0, 0.52, vs_strongest_baseline=_test(0.42, 0.3, 0.5, 0.001, baseline="baseline")),
        full(1, 0.50, vs_best=_test(-0.02, -0.05, 0.01, 0.2, best="full"),
             vs_strongest_baseline=_test(0.40, 0.1, 0.6, 0.02, baseline="baseline")),
        lora(0, 0.49, _test(-0.03, -0.07, 0.01, 0.3, best="full")),
        lora(1, 0.47, _test(-0.05, -0.11, 0.01, 0.08, best="full")),
    ])
    # "within noise": the seed with the smallest p (0.08); the gain: the seed with the largest p (0.02)
    # 294: se = 0.06 / 1.96 = 0.030612; 2.8 * se / 0.05 = 1.71429; squared 2.93878; times 100 is 293.9
    assert answer(build_table(tmp_path))[0].sentences == [
        "full is best (0.510, mean of 2 seeds). Within noise of it (paired test, p ≥ 0.05): lora.",
        "lora is within noise of full (delta -0.050, 95% CI [-0.110, 0.010]; its least favourable of 2 seeds) "
        "at 1% of its trainable parameters.",
        "full beats the baseline by +0.400 rouge1 (95% CI [0.100, 0.600], p = 0.02; its least favourable of 2 seeds).",
        "The evidence cannot separate full from the runner-up, lora (delta -0.050, 95% CI [-0.110, 0.010], p = 0.08; "
        "its least favourable of 2 seeds): about 294 examples would separate them if the difference is real (100 were scored).",
    ]
