"""The table every format renders: seeds folded, best and ties marked, stale and failed records."""

from __future__ import annotations

import pytest
from recordsets import record, score, write

from harness.errors import HarnessError
from harness.report import numbers, render
from harness.report.charts import chart_data, pareto_front, thin
from harness.report.table import build_table


def _best(p_value: float, best: str = "full") -> dict:
    return {"delta": -0.1, "ci_low": -0.2, "ci_high": 0.0, "p_value": p_value, "test": "paired_bootstrap", "n": 10, "best": best}


def test_seeds_fold_into_mean_and_sample_std(tmp_path):
    write(tmp_path, [
        record("baseline", "baseline", metrics={"d2t": {"rouge1": 0.1}}),
        *(record("lora", "lora", seed, metrics={"d2t": {"rouge1": v}}) for seed, v in [(0, 0.2), (1, 0.3), (2, 0.4)]),
        record("full", "full", metrics={"d2t": {"rouge1": score(0.5, 0.45, 0.55)}}),
    ])
    table = build_table(tmp_path)
    rows = {r.name: r for r in table.rows}
    lora = rows["lora"].cells["metric:d2t/rouge1"]
    assert lora.value == pytest.approx(0.3) and lora.std == pytest.approx(0.1) and lora.n_seeds == 3
    assert lora.ci_low is None  # several seeds: the spread is the std, each run keeps its interval
    assert [r.cells["metric:d2t/rouge1"].value for r in rows["lora"].runs] == [0.2, 0.3, 0.4]
    full = rows["full"].cells["metric:d2t/rouge1"]
    assert (full.value, full.ci_low, full.ci_high, full.std) == (0.5, 0.45, 0.55, None)
    assert numbers.spread_text(table.column("metric:d2t/rouge1"), lora) == "± 0.100 (3 seeds)"
    # the trainable share is the mean share across seeds
    assert rows["lora"].cells["cost:trainable_params"].share == pytest.approx(10.0)


def test_best_follows_each_metrics_direction_and_ties_come_from_paired_tests(tmp_path):
    write(tmp_path, [
        record("baseline", "baseline", metrics={"mt": {"bleu": score(10.0, vs_best=_best(0.001)), "ter": score(90.0, vs_best=_best(0.001))}}),
        record("full", "full", metrics={"mt": {"bleu": 30.0, "ter": score(60.0, vs_best=_best(0.2, "lora"))}}),
        record("lora", "lora", metrics={"mt": {"bleu": score(29.0, vs_best=_best(0.4)), "ter": 55.0}}),
        record("ia3", "ia3", metrics={"mt": {"bleu": score(20.0, vs_best=_best(0.01)), "ter": score(70.0, vs_best=_best(0.03, "lora"))}}),
    ])
    table = build_table(tmp_path)
    cells = {r.name: r.cells for r in table.rows}
    bleu, ter = "metric:mt/bleu", "metric:mt/ter"
    assert [n for n in cells if cells[n][bleu].best] == ["full"]
    assert [n for n in cells if cells[n][ter].best] == ["lora"]  # TER: lower is better
    assert cells["lora"][bleu].tied and not cells["ia3"][bleu].tied and not cells["baseline"][bleu].tied
    assert cells["full"][ter].tied and not cells["ia3"][ter].tied
    # ranked by the first metric, best first, the baseline on top
    assert [r.name for r in table.rows] == ["baseline", "full", "lora", "ia3"]


def test_without_comparisons_no_ties_are_claimed(tmp_path):
    write(tmp_path, [record("baseline", "baseline", metrics={"e": {"rouge1": 0.1}}),
                     record("full", "full", metrics={"e": {"rouge1": 0.3}}),
                     record("lora", "lora", metrics={"e": {"rouge1": 0.29}})])
    table = build_table(tmp_path)
    assert not any(c.tied for r in table.rows for c in r.cells.values())
    assert any("harness score" in n for n in table.notes)


def test_a_column_of_equal_values_has_no_best(tmp_path):
    write(tmp_path, [record("baseline", "baseline", metrics={"e": {"rouge2": 0.0}}),
                     record("full", "full", metrics={"e": {"rouge2": 0.0}})])
    assert not any(r.cells["metric:e/rouge2"].best for r in build_table(tmp_path).rows)


def test_failed_variants_stay_with_their_error_and_the_newest_record_wins(tmp_path):
    write(tmp_path, [
        record("baseline", "baseline", metrics={"e": {"rouge1": 0.1}}),
        record("full", "full", metrics={"e": {"rouge1": 0.9}}, finished="2026-01-01T00:00:00+00:00"),
        record("full", "full", metrics={"e": {"rouge1": 0.4}}, finished="2026-01-02T00:00:00+00:00"),
        record("lora", "lora", status="failed", error="RuntimeError: out of memory"),
    ])
    table = build_table(tmp_path)
    assert [r.name for r in table.rows] == ["baseline", "full", "lora"]
    full, lora = table.rows[1], table.rows[2]
    assert full.cells["metric:e/rouge1"].value == 0.4 and len(full.runs) == 1
    assert lora.status == "failed" and lora.errors == ["RuntimeError: out of memory"] and not lora.cells
    assert any("1 older record" in n for n in table.notes)


def test_forgetting_drift_and_costs(tmp_path):
    forgot = {"reviews": {"accuracy": {"base": 0.8, "tuned": 0.6, "delta": -0.2, "ci_low": -0.3, "ci_high": -0.1, "p_value": 0.01}}}
    kept = {"reviews": {"accuracy": {"base": 0.8, "tuned": 0.8, "delta": 0.0, "ci_low": -0.1, "ci_high": 0.1, "p_value": 1.0}}}
    evals = [{"name": "reviews", "metrics": ["accuracy"], "retention": True}]
    drift = lambda v: {"value": v, "ci_low": v - 0.01, "ci_high": v + 0.01, "n": 8}  # noqa: E731
    write(tmp_path, [
        record("baseline", "baseline", metrics={"reviews": {"accuracy": 0.8}}, evals=evals, drift=drift(0.0)),
        record("full", "full", metrics={"reviews": {"accuracy": 0.6}}, evals=evals, forgetting=forgot, drift=drift(2.0),
               cost={"trainable_params": 1000, "total_params": 1000, "peak_memory_bytes": 3_000_000, "train_seconds": 5.0}),
        record("lora", "lora", metrics={"reviews": {"accuracy": 0.8}}, evals=evals, forgetting=kept, drift=drift(-0.004),
               cost={"trainable_params": 10, "total_params": 1000, "peak_memory_bytes": 2_000_000, "train_seconds": 6.0}),
        record("ia3", "ia3", metrics={"reviews": {"accuracy": 0.8}}, evals=evals, forgetting=kept, drift=drift(0.01),
               cost={"trainable_params": 5, "total_params": 1000, "peak_memory_bytes": 2_500_000, "train_seconds": 4.0}),
    ])
    table = build_table(tmp_path)
    keys = [c.key for c in table.columns]
    assert keys == ["metric:reviews/accuracy", "forgetting:reviews/accuracy", "drift", "cost:trainable_params",
                    "cost:peak_memory_bytes", "cost:train_seconds"]
    rows = {r.name: r.cells for r in table.rows}
    assert rows["full"]["forgetting:reviews/accuracy"].value == -0.2 and rows["full"]["forgetting:reviews/accuracy"].p_value == 0.01
    assert "forgetting:reviews/accuracy" not in rows["baseline"]
    # drift: the estimate closest to zero is best (KL is never negative; -0.004 is noise); the baseline is not a candidate
    assert [n for n in rows if rows[n]["drift"].best] == ["lora"]
    # costs: best among tuned variants (the baseline trains nothing)
    assert [n for n in rows if rows[n]["cost:trainable_params"].best] == ["ia3"]
    assert [n for n in rows if rows[n]["cost:peak_memory_bytes"].best] == ["lora"]
    assert [n for n in rows if "cost:train_seconds" in rows[n] and rows[n]["cost:train_seconds"].best] == ["ia3"]
    assert rows["lora"]["cost:trainable_params"].share == pytest.approx(1.0)
    charts = chart_data(table)
    drop = next(m for m in charts["forgetting"] if m["key"] == "forgetting:reviews/accuracy")
    assert drop["values"] == {"tiny/full": pytest.approx(0.2), "tiny/lora": 0.0, "tiny/ia3": 0.0}
    assert charts["gains"]["metric:reviews/accuracy"] == {"tiny/full": pytest.approx(-0.2), "tiny/lora": 0.0, "tiny/ia3": 0.0}


def test_training_flops_are_a_cost_axis_and_mfu_a_column(tmp_path):
    def cost(train_flops: float, mfu: float) -> dict:
        return {"trainable_params": 100, "total_params": 1000, "train_seconds": 2.0, "train_flops": train_flops,
                "flops_per_second": train_flops / 2.0, "mfu": mfu, "peak_source": "table: H100 bf16"}

    write(tmp_path, [
        record("baseline", "baseline", metrics={"d2t": {"rouge1": 0.1}}),
        record("full", "full", metrics={"d2t": {"rouge1": 0.4}}, cost=cost(3.0e15, 0.41)),
        record("lora", "lora", metrics={"d2t": {"rouge1": 0.3}}, cost=cost(2.0e15, 0.35)),
        record("ia3", "ia3", metrics={"d2t": {"rouge1": 0.2}}, cost=cost(2.5e15, 0.30)),
    ])
    table = build_table(tmp_path)
    assert [c.key for c in table.columns if c.kind == "cost"] == [
        "cost:trainable_params", "cost:peak_memory_bytes", "cost:train_seconds", "cost:train_flops", "cost:mfu"]
    rows = {r.name: r.cells for r in table.rows}
    assert [n for n in rows if "cost:mfu" in rows[n] and rows[n]["cost:mfu"].best] == ["full"]
    charts = chart_data(table)
    assert "cost:train_flops" in [c["key"] for c in charts["costs"]]
    # ia3 costs more FLOPs than lora and scores less: off the frontier
    assert charts["frontiers"]["metric:d2t/rouge1|cost:train_flops"] == ["tiny/lora", "tiny/full"]
    # records without FLOPs (older ones) offer no such axis
    write(tmp_path / "old", [record("baseline", "baseline", metrics={"d2t": {"rouge1": 0.1}}),
                             record("full", "full", metrics={"d2t": {"rouge1": 0.4}})])
    assert "cost:train_flops" not in [c["key"] for c in chart_data(build_table(tmp_path / "old"))["costs"]]


def test_contamination_is_noted(tmp_path):
    write(tmp_path, [record("baseline", "baseline", metrics={"e": {"rouge1": 0.1}}),
                     record("full", "full", metrics={"e": {"rouge1": 0.3}}, contamination={"e": {"count": 3, "n": 10, "ids": [1, 2, 3]}})])
    assert any("3 of 10 examples of eval e" in n for n in build_table(tmp_path).notes)


def test_mostly_empty_predictions_are_flagged(tmp_path):
    write(tmp_path, [record("baseline", "baseline", metrics={"e": {"rouge1": 0.1}}, empty_predictions={"e": {"count": 13, "n": 16}}),
                     record("full", "full", metrics={"e": {"rouge1": 0.3}}, empty_predictions={"e": {"count": 8, "n": 16}})])
    notes = [n for n in build_table(tmp_path).notes if "empty" in n]
    assert notes == ["baseline (seed 0): 13 of 16 predictions of eval e are empty: its scores there are those of no "
                     "answer at all (open its predictions)"]  # half empty is not flagged; more than half is


def test_an_empty_folder_is_a_user_error(tmp_path):
    with pytest.raises(HarnessError, match="no readable records"):
        build_table(tmp_path)


def test_pareto_front_by_hand():
    points = [("a", 1, 0.5), ("b", 2, 0.4), ("c", 3, 0.7), ("d", 3, 0.6), ("e", 4, 0.7), ("f", 0.5, 0.1)]
    # b is beaten by a (cheaper, better), d by c, e by c (same quality, dearer); f is cheapest
    assert pareto_front(points) == ["f", "a", "c"]
    # lower is better (TER): the cheapest point, then each cheaper-than-the-rest improvement
    assert pareto_front([("a", 1, 50.0), ("b", 2, 60.0), ("c", 3, 40.0)], higher_is_better=False) == ["a", "c"]
    assert pareto_front([("a", 1, 0.5), ("b", 1, 0.5)]) == ["a", "b"]  # identical points: neither dominates


def test_thin_keeps_the_ends_and_at_most_the_limit():
    curve = [(i, float(i)) for i in range(1, 1001)]
    thinned = thin(curve, 400)
    assert len(thinned) <= 400 and thinned[0] == (1, 1.0) and thinned[-1] == (1000, 1000.0)
    assert thin(curve[:10], 400) == curve[:10]


@pytest.mark.parametrize("value, unit, text", [
    (718_594_048, "bytes", "718.6 MB"), (16384, "params", "16.4K"), (107200, "params", "107K"), (130, "params", "130"),
    (75, "seconds", "1.2 min"), (1.497, "seconds", "1.5 s"), (34359.6, "tokens/s", "34.4K"), (0.10766, "0-1", "0.108"),
    (17.71, "0-100", "17.71"), (3.2e15, "flops", "3.2P"), (1.34e9, "flops", "1.34G"), (0.4152, "fraction", "41.5%"),
    (0.00123, "fraction", "0.123%"),
])
def test_numbers_read_at_a_glance(value, unit, text):
    from harness.report.table import Column

    assert numbers.number(Column("k", "cost", "g", "l", "", True, unit), value) == text



def test_two_models_are_ranked_and_marked_each_on_its_own(tmp_path):
    write(tmp_path, [
        record("baseline", "baseline", model="small", metrics={"e": {"rouge1": 0.1}}),
        record("lora", "lora", model="small", metrics={"e": {"rouge1": 0.2}}),
        record("baseline", "baseline", model="large", metrics={"e": {"rouge1": 0.5}}),
        record("lora", "lora", model="large", metrics={"e": {"rouge1": 0.7}}),
        record("full", "full", model="large", metrics={"e": {"rouge1": 0.6}}),
    ])
    table = build_table(tmp_path)
    assert [r.key for r in table.rows] == ["large/baseline", "large/lora", "large/full", "small/baseline", "small/lora"]
    assert [r.key for r in table.rows if r.cells["metric:e/rouge1"].best] == ["large/lora", "small/lora"]
    page = render([table], "html")
    assert page.count('<td class="text" data-sort="large">large</td>') == 3  # a model column once there are two


@pytest.mark.parametrize("sources, header", [(["rss", "rss"], "peak RSS"), (["cuda", "cuda"], "peak GPU alloc"),
                                             (["rss", "cuda"], "peak memory (RSS + GPU)")])
def test_the_memory_header_says_what_was_measured(tmp_path, sources, header):
    write(tmp_path, [record(name, name, metrics={"d2t": {"rouge1": 0.5}},
                            cost={"peak_memory_bytes": 2_000_000, "peak_memory_source": source})
                     for name, source in zip(("full", "lora"), sources)])
    (column,) = [c for c in build_table(tmp_path).columns if c.key == "cost:peak_memory_bytes"]
    assert column.label == header
    assert ("resident set" in column.help) == ("rss" in sources) and ("allocated" in column.help) == ("cuda" in sources)
