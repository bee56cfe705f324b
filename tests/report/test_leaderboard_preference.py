"""Preference training (objective dpo) on the leaderboard: the reward margin and accuracy
charts' data, the training table's objective column (loss_type, beta, the reference and its
memory), and nothing of either for a suite without preference stages.

Records are written by hand (recordsets.py) with the fields the worker writes: the
record's preference_curve and `method_info["stages"][i]` = {objective, loss_type, beta,
reference: {kind, bytes}}, every number chosen so the page's text and data are known exactly.
"""

from __future__ import annotations

import html
import json
import re

from recordsets import record, write

from harness.report import build_table, render
from harness.report.charts import CURVE_POINTS
from harness.report.objectives import reference_text, stage_text

MARGINS = {"dpo-lora": [0.0, 0.25, 0.5], "dpo-full": [0.0, -0.125, 0.75]}
ACCURACIES = {"dpo-lora": [0.5, 0.75, 1.0], "dpo-full": [0.5, 0.25, 1.0]}


def _curve(margins: list[float], accuracies: list[float], first_step: int = 1) -> list[dict]:
    return [{"step": first_step + i, "chosen_reward": m / 2, "rejected_reward": -m / 2, "margin": m, "accuracy": a}
            for i, (m, a) in enumerate(zip(margins, accuracies))]


def _stage(steps: int, objective: str = "sft", **preference) -> tuple[dict, dict]:
    """(method_info stage, spec stage) of one stage as the worker writes them."""
    recorded = {"steps": steps, **({"objective": objective, **preference} if objective != "sft" else {})}
    written = {"steps": steps, "learning_rate": 1e-4, "objective": objective, "loss_type": preference.get("loss_type", "sigmoid"),
               "beta": preference.get("beta", 0.1)}
    return recorded, written


def _trained(name: str, method: str, rouge: float, stages: list[tuple[dict, dict]], curve: list[dict] | None = None):
    r = record(name, method, metrics={"e": {"rouge1": rouge}}, variant_id=name)
    r.method_info["stages"] = [rec for rec, _ in stages]
    r.spec["stages"] = [wr for _, wr in stages]
    r.preference_curve = curve or []
    return r


def _preference_board(folder, lora_curve: list[dict] | None = None):
    lora = _trained("dpo-lora", "lora", 0.4, [_stage(3, "dpo", loss_type="sigmoid", beta=0.1,
                                                     reference={"kind": "adapters disabled", "bytes": 0})],
                    lora_curve or _curve(MARGINS["dpo-lora"], ACCURACIES["dpo-lora"]))
    # full fine-tuning after an sft stage: the reference is a copy of the weights, 1.2 MB of them
    full = _trained("dpo-full", "full", 0.5, [_stage(2), _stage(3, "dpo", loss_type="ipo", beta=0.5,
                                                               reference={"kind": "weights at stage start", "bytes": 1_200_000})],
                    _curve(MARGINS["dpo-full"], ACCURACIES["dpo-full"], first_step=3))
    simpo = _trained("simpo", "lora", 0.3, [_stage(3, "dpo", loss_type="simpo", beta=2.0, reference={"kind": "none", "bytes": 0})],
                     _curve([0.5, 1.0, 1.5], [0.5, 0.5, 1.0]))
    sft = _trained("sft-lora", "lora", 0.2, [_stage(3)])
    return build_table(write(folder, [record("baseline", "baseline", metrics={"e": {"rouge1": 0.1}}, variant_id="base"),
                                      lora, full, simpo, sft]))


def _data(page: str) -> dict:
    text = re.search(r'<script type="application/json" id="harness-data">(.*?)</script>', page, re.S).group(1)
    return json.loads(text)


def _training_cells(page: str) -> dict[str, list[str]]:
    """The training table's rows by variant name: each cell's text."""
    section = re.search(r'<section id="training">(.*?)</section>', page, re.S).group(1)
    body = re.search(r'<table class="setup">.*?<tbody>(.*?)</tbody>', section, re.S).group(1)
    rows = [[html.unescape(re.sub(r"<[^>]+>", "", c)) for c in re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)]
            for tr in re.findall(r"<tr>(.*?)</tr>", body, re.S)]
    return {cells[0]: cells for cells in rows}


def test_the_page_charts_each_runs_margin_and_accuracy_per_step(tmp_path):
    page = render([_preference_board(tmp_path)], "html")
    charts = _data(page)["charts"]["preference"]
    by_label = {c["label"]: c for c in charts}
    assert set(by_label) == {"dpo-lora", "dpo-full", "simpo"}  # sft-lora has no curve, the baseline trains nothing
    assert by_label["dpo-lora"]["margin"] == [[1, 0.0], [2, 0.25], [3, 0.5]]
    assert by_label["dpo-lora"]["accuracy"] == [[1, 0.5], [2, 0.75], [3, 1.0]]
    # steps run on across stages: the dpo stage after two sft steps starts at step 3
    assert by_label["dpo-full"]["margin"] == [[3, 0.0], [4, -0.125], [5, 0.75]]
    assert by_label["dpo-full"]["row"] == "tiny/dpo-full"
    assert 'id="chart-preference-margin"' in page and 'id="chart-preference-accuracy"' in page
    assert "Preference reward margin per step" in page and "Preference accuracy on training batches" in page
    assert "beta times the log-ratio of its probability under the policy to that under the reference" in page
    assert "not held-out quality" in page


def test_the_training_table_says_each_stages_objective_and_reference(tmp_path):
    page = render([_preference_board(tmp_path)], "html")
    assert "<th>objective</th>" in page
    cells = _training_cells(page)
    assert cells["dpo-lora"][-1] == "dpo, loss_type sigmoid, beta 0.1, reference: adapters disabled (no copy)"
    assert cells["dpo-full"][-1] == ("stage 1: sft; stage 2: dpo, loss_type ipo, beta 0.5, "
                                     "reference: weights at stage start (1.2 MB)")
    assert cells["simpo"][-1] == "dpo, loss_type simpo, beta 2, reference: none (reference-free)"
    assert cells["sft-lora"][-1] == "sft"


def test_markdown_lists_the_objectives_too(tmp_path):
    md = render([_preference_board(tmp_path)], "md")
    assert "### Training (steps run, budget, learning rate, objective)" in md
    training = md.split("### Training", 1)[1]
    line = next(line for line in training.splitlines() if line.startswith("| dpo-full "))
    assert "stage 2: dpo, loss_type ipo, beta 0.5, reference: weights at stage start (1.2 MB)" in line


def test_a_suite_without_preference_stages_shows_no_preference_chart_or_column(tmp_path):
    records = [record("baseline", "baseline", metrics={"e": {"rouge1": 0.1}}, variant_id="base"),
               _trained("lora", "lora", 0.3, [_stage(3)])]
    table = build_table(write(tmp_path, records))
    page = render([table], "html")
    assert _data(page)["charts"]["preference"] == []
    assert "chart-preference" not in page.split('<script type="application/json"')[0]  # the script names them, the markup not
    assert "Preference reward margin" not in page and "<th>objective</th>" not in page
    assert "objective" not in render([table], "md")


def test_long_curves_are_thinned_like_the_loss_and_broken_points_dropped(tmp_path):
    n = 3 * CURVE_POINTS + 7
    curve = _curve([i / n for i in range(n)], [0.5] * n)
    curve[5]["margin"] = float("nan")  # JSON has no NaN: the point goes, the page still renders
    page = render([_preference_board(tmp_path, lora_curve=curve)], "html")
    lora = next(c for c in _data(page)["charts"]["preference"] if c["label"] == "dpo-lora")
    assert len(lora["margin"]) <= CURVE_POINTS and lora["margin"][-1] == [n, (n - 1) / n]
    assert len(lora["accuracy"]) <= CURVE_POINTS and lora["accuracy"][-1] == [n, 0.5]
    assert all(isinstance(y, float) and y == y for _, y in lora["margin"])


def test_stage_text_reads_what_the_record_has_and_falls_back_to_the_spec():
    assert stage_text({}, {"objective": "sft", "loss_type": "sigmoid", "beta": 0.1}) == "sft"
    # an older record: the spec names the loss, nothing says the reference
    assert stage_text({"steps": 4}, {"objective": "dpo", "loss_type": "hinge", "beta": 0.25}) == "dpo, loss_type hinge, beta 0.25"
    assert stage_text({}, {}) is None
    assert reference_text({"kind": "weights at stage start", "bytes": 2_500_000_000}) == "weights at stage start (2.5 GB)"
    assert reference_text({"kind": "weights at stage start", "bytes": "lots"}) == "weights at stage start"
    assert reference_text("adapters disabled") is None
