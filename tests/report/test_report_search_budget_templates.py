"""What the leaderboard says about how variants were trained and prompted: the learning-rate
search, the training budget, in-context baselines and the chat template, and prompt
sensitivity across an eval's templates.

Records are written by hand (recordsets.py) with the fields the worker writes (`search`,
`method_info["stages"]`, `method_info["shots"]`, `templates`, the spec's stages and evals),
every number chosen so each sentence and cell is known exactly; the templated suite also
goes through compare_suite, so its per-template evals carry real paired tests.
"""

from __future__ import annotations

import csv
import io

from markupsafe import escape
from recordsets import record, write

from harness.analysis.compare import compare_suite
from harness.records.store import read_record
from harness.report import build_table, numbers, render
from harness.report.answer import answer, setup
from harness.report.budgets import sentence as budget_sentence
from harness.report.prompting import chat_sentence
from harness.report.rate_search import rate
from harness.report.table import Column


def _train(r, steps: int, lr: float = 2e-4, budget: dict | None = None, recorded: dict | None = None, spec_steps: int = 12):
    """A tuned record's training: the spec's one stage (budget as written) and what the run recorded."""
    r.spec["stages"] = [{"steps": spec_steps, "learning_rate": lr,
                         "budget": {"tokens": None, "steps": None, "seconds": None, "flops": None, **budget} if budget else None}]
    r.method_info["stages"] = [{"steps": steps, **({"budget": recorded} if recorded else {})}]
    return r


def _md_rows(md: str, heading: str) -> list[list[str]]:
    """The cells of the table under a Markdown heading (header and rule left out)."""
    block = md.split(heading, 1)[1].split("\n\n")[1]
    return [[c.strip() for c in line.strip("|").split("|")] for line in block.splitlines()[2:]]


# ---- 1. the learning-rate search ---------------------------------------------------------

def _search(values, scores, chosen):
    return {"param": "learning_rate", "values": values, "scores": scores, "chosen": chosen, "metric": "loss",
            "higher_is_better": False, "data": "data/d2t.jsonl", "split": "validation", "limit": 64, "steps": 20,
            "final_steps": 200, "seconds": 95.0}


def _searched_board(folder, ia3: bool = False):
    full = _train(record("full", "full", metrics={"d2t": {"rouge1": 0.52}}), 200, lr=1e-5, spec_steps=200)
    full.search = _search([1e-5, 3e-5, 1e-4], [1.52, 1.21, None], 3e-5)  # 1e-4 diverged
    lora = _train(record("lora", "lora", metrics={"d2t": {"rouge1": 0.50}}), 200, spec_steps=200)
    lora.search = _search([1e-4, 3e-4, 1e-3], [1.3, 1.1, 1.25], 3e-4)
    records = [record("baseline", "baseline", metrics={"d2t": {"rouge1": 0.1}}), full, lora]
    if ia3:
        records.append(_train(record("ia3", "ia3", metrics={"d2t": {"rouge1": 0.40}}), 200, lr=3e-3, spec_steps=200))
    return build_table(write(folder, records))


def test_rates_are_written_as_people_write_them():
    assert [rate(x) for x in (3e-4, 1.5e-5, 1e-5, 0.1, 0.03)] == ["3e-4", "1.5e-5", "1e-5", "0.1", "0.03"]


def test_the_search_shows_each_rate_with_its_score_the_choice_and_what_it_rests_on(tmp_path):
    table = _searched_board(tmp_path)
    assert "Each method trained at the learning rate its search picked on held-out data." in setup(table)
    md = render([table], "md")
    # 95 s is 1.6 min; the diverged rate scores nothing; lower loss wins
    assert ("### Learning-rate search\n\n"
            "One short run per rate: each rate trained 20 steps against the final run's 200, scored by loss (lower is better) "
            "on data/d2t.jsonl (validation), up to 64 examples. **Bold**: the rate chosen.\n\n"
            "| variant | rate: score                                  | chosen | search time |\n"
            "|---------|----------------------------------------------|--------|------------:|\n"
            "| full    | 1e-5: 1.52 · **3e-5: 1.21** · 1e-4: diverged | 3e-5   |     1.6 min |\n"
            "| lora    | 1e-4: 1.3 · **3e-4: 1.1** · 1e-3: 1.25       | 3e-4   |     1.6 min |\n") in md
    # the chosen rate sits in the variant's row of every table, and in the training table
    assert [row[0] for row in _md_rows(md, "### d2t (95% intervals)")] == [
        "baseline", "full · lr 3e-5 (searched)", "lora · lr 3e-4 (searched)"]
    assert [(row[0], row[3]) for row in _md_rows(md, "### Training")] == [("full", "3e-5 (searched)"), ("lora", "3e-4 (searched)")]
    page = render([table], "html")
    assert '<strong class="chosen">3e-5: 1.21</strong> · 1e-4: diverged' in page
    assert '<span class="params train">lr 3e-5 (searched) · 200 steps</span>' in page


def test_the_answer_says_when_only_some_or_no_rates_were_searched(tmp_path):
    some = setup(_searched_board(tmp_path / "some", ia3=True))
    assert ("The learning rate was searched on held-out data for full and lora only; ia3 trained at the rate the suite "
            "set (3e-3), so its score also reflects that pick.") in some
    write(tmp_path / "none", [record("baseline", "baseline", metrics={"d2t": {"rouge1": 0.1}}),
                              _train(record("full", "full", metrics={"d2t": {"rouge1": 0.52}}), 12, lr=1e-5),
                              _train(record("lora", "lora", metrics={"d2t": {"rouge1": 0.50}}), 12)])
    none = build_table(tmp_path / "none")
    assert "No learning-rate search ran: each method trained at the rate the suite set (full 1e-5, lora 2e-4)." in setup(none)
    assert "searched" not in render([none], "md")


# ---- 2. budgets --------------------------------------------------------------------------

def _budget_board(folder, variants):
    """variants: (name, steps run, budget as written, budget as recorded); ranked in this order."""
    records = [record("baseline", "baseline", metrics={"d2t": {"rouge1": 0.1}})]
    for i, (name, steps, budget, recorded) in enumerate(variants):
        records.append(_train(record(name, name, metrics={"d2t": {"rouge1": 0.6 - 0.01 * i}}), steps, budget=budget, recorded=recorded))
    return build_table(write(folder, records))


def _tokens(steps, per_step):
    return {"kind": "tokens", "amount": 1200, "steps": steps, "tokens_per_step": per_step}


def test_equal_tokens_are_said_with_the_steps_each_variant_took(tmp_path):
    # lora's record has only the spec's budget (an older run): the same budget all the same
    table = _budget_board(tmp_path, [("full", 10, {"tokens": 1200}, _tokens(10, 120.0)), ("lora", 12, {"tokens": 1200}, None)])
    assert budget_sentence(table) == "Compared at equal training tokens (1,200 per variant): full trained 10 steps and lora 12."
    assert setup(table)[0] == budget_sentence(table)  # the answer opens with it
    md = render([table], "md")
    assert _md_rows(md, "### Training") == [["full", "full", "1,200 training tokens (120 tokens per step)", "2e-4", "10"],
                                            ["lora", "lora", "1,200 training tokens", "2e-4", "12"]]
    assert "- Compared at equal training tokens (1,200 per variant): full trained 10 steps and lora 12." in md


def test_equal_flops_and_equal_time_and_the_others(tmp_path):
    flops = {"kind": "flops", "amount": 5e8, "steps": 7, "tokens_per_step": 100.0, "flops_per_token": 714285.7}
    table = _budget_board(tmp_path / "f", [("full", 7, {"flops": 5e8}, flops), ("lora", 7, {"flops": 5e8}, flops)])
    assert budget_sentence(table) == "Compared at equal training FLOPs (5.0e8 per variant; 7 steps each)."
    assert _md_rows(render([table], "md"), "### Training")[0][2] == "5.0e8 FLOPs (100 tokens per step, 7.1e5 FLOPs per token)"
    secs = {"kind": "seconds", "amount": 300, "tokens_per_step": 100.0}
    table = _budget_board(tmp_path / "s", [("full", 30, {"seconds": 300}, secs), ("lora", 41, {"seconds": 300}, secs),
                                           ("prompt", 41, {"seconds": 300}, secs)])
    assert budget_sentence(table) == "Compared at equal wall-clock training time (300 s per variant): full trained 30 steps, the others 41."


def test_without_a_budget_the_step_counts_are_said_when_they_differ(tmp_path):
    equal = _budget_board(tmp_path / "e", [("full", 12, None, None), ("lora", 12, None, None)])
    assert budget_sentence(equal) == "Compared at equal optimizer steps (12 per variant)."
    differ = _budget_board(tmp_path / "d", [("full", 12, None, None), ("lora", 12, None, None), ("prompt-tuning", 24, None, None)])
    assert budget_sentence(differ) == ("Compared at the optimizer steps each variant was given, which differ: "
                                       "prompt-tuning trained 24 steps, the others 12.")
    page = render([differ], "html")
    assert '<span class="params train">24 steps</span>' in page


def test_different_budgets_are_said_plainly(tmp_path):
    table = _budget_board(tmp_path, [("full", 10, {"tokens": 1200}, _tokens(10, 120.0)),
                                     ("lora", 12, {"seconds": 300}, {"kind": "seconds", "amount": 300, "tokens_per_step": 90.0}),
                                     ("ia3", 12, None, None)])
    assert budget_sentence(table) == (
        "The variants trained under different budgets, so this is not an equal-budget comparison: full at 1,200 training "
        "tokens; lora at 300 s of wall-clock training time; ia3 without a budget (full trained 10 steps, the others 12).")


# ---- 3. in-context baselines and the chat template ---------------------------------------

CHAT_EVALS = [{"name": "d2t", "metrics": ["rouge1"], "kind": "generation", "chat": True},
              {"name": "qa", "metrics": ["exact_match"], "kind": "generation", "chat": False},
              {"name": "mmlu", "metrics": ["acc"], "kind": "multiple_choice", "chat": False}]


def _shots(k, evals):
    return {"k": k, "data": "data/train.jsonl", "split": "train", "seed": 0, "evals": evals}


def _prompted_board(folder):
    scores = {"d2t": {"rouge1": 0.3}, "qa": {"exact_match": 0.2}, "mmlu": {"acc": 0.4}}
    ten = record("baseline-10shot", "baseline", metrics=scores, evals=CHAT_EVALS)
    ten.params, ten.method_info["shots"] = {"shots": 10}, _shots(10, {"d2t": {"min": 4, "fewer": 1}})
    five = record("baseline-5shot", "baseline", metrics=scores, evals=CHAT_EVALS)
    five.params = {"shots": 5}
    five.method_info["shots"] = _shots(5, {"d2t": {"min": 2, "fewer": 3}, "qa": {"min": 5, "fewer": 0}})
    # written 10-shot first: by name "baseline-10shot" sorts before "baseline-5shot"; the table must order by k
    return build_table(write(folder, [ten, five, record("baseline", "baseline", metrics=scores, evals=CHAT_EVALS),
                                      record("full", "full", metrics=scores, evals=CHAT_EVALS)]))


def test_baselines_come_first_zero_shot_then_by_k_and_are_labelled(tmp_path):
    table = _prompted_board(tmp_path)
    assert [r.name for r in table.rows] == ["baseline", "baseline-5shot", "baseline-10shot", "full"]
    md = render([table], "md")
    assert [row[:2] for row in _md_rows(md, "### d2t (95% intervals)")] == [
        ["baseline", "baseline, zero-shot"], ["baseline-5shot", "baseline, 5-shot"],
        ["baseline-10shot", "baseline, 10-shot"], ["full", "full"]]
    # a prompt the examples did not fit is a note; an eval where all fitted (qa) is not
    assert [n for n in table.notes if "fewer than" in n] == [
        "baseline-5shot: 3 prompts of d2t got fewer than 5 examples (they did not fit the context; at least 2)",
        "baseline-10shot: 1 prompt of d2t got fewer than 10 examples (they did not fit the context; at least 4)"]
    assert ("In-context baselines: baseline-5shot puts 5 training examples before each prompt of d2t and qa "
            "(data/train.jsonl, train split, drawn once with seed 0); baseline-10shot puts 10 training examples before each "
            "prompt of d2t (data/train.jsonl, train split, drawn once with seed 0).") in setup(table)
    page = render([table], "html")
    assert '<span class="badge" title="5 training examples before each prompt">5-shot</span>' in page


def test_the_prompt_format_is_read_from_the_records(tmp_path):
    table = _prompted_board(tmp_path)
    said = ("Prompts: through the model's chat template for d2t (generation); in lm-eval's plain format for mmlu "
            "(multiple_choice); as plain text, without a chat template, for qa (generation).")
    assert chat_sentence(table) == said
    assert f"- {said}" in render([table], "md")
    page = render([table], "html")
    assert f"<tr><th>prompts</th><td><div>{escape(said)}</div>" in page
    # two models, one with a chat template and one without: said per model, not averaged away
    evals = lambda chat: [{"name": "d2t", "metrics": ["rouge1"], "kind": "generation", "chat": chat}]  # noqa: E731
    write(tmp_path / "two", [record("baseline", "baseline", model="instruct", metrics={"d2t": {"rouge1": 0.3}}, evals=evals(True)),
                             record("baseline", "baseline", model="base", metrics={"d2t": {"rouge1": 0.2}}, evals=evals(False))])
    assert chat_sentence(build_table(tmp_path / "two")) == "Prompts: for d2t through the chat template on instruct but plain on base."


# ---- 4. several templates per eval -------------------------------------------------------

PROMPTS = ["Summarize: {text}\nSummary:", "{text}\n\nTL;DR:", "Write one sentence about: {text}"]
TEMPLATE_EVALS = [{"name": f"d2t@{j}", "metrics": ["rouge1"], "kind": "generation", "chat": True} for j in (1, 2, 3)]
OFFSETS = [-0.02, 0.02, -0.01, 0.01, 0.0, 0.0, -0.03, 0.03, 0.01, -0.01]  # sum 0: an eval's mean is its value


def _templated(name, method, values, stats, seed=0):
    r = record(name, method, seed, metrics={f"d2t@{j}": {"rouge1": v} for j, v in enumerate(values, 1)}, evals=TEMPLATE_EVALS)
    r.templates = {"d2t": {"evals": ["d2t@1", "d2t@2", "d2t@3"], "prompts": PROMPTS, "metrics": {"rouge1": stats}}}
    return r


def _rows(values, flip):
    offsets = OFFSETS[::-1] if flip else OFFSETS
    return {f"d2t@{j}": [{"id": i, "prediction": "p", "references": ["r"], "scores": {"rouge1": v + o}} for i, o in enumerate(offsets)]
            for j, v in enumerate(values, 1)}


# each summary worked out by hand: mean, sample standard deviation, min, max of the three values
BASE = ([0.19, 0.31, 0.43], {"mean": 0.31, "std": 0.12, "min": 0.19, "max": 0.43, "values": [0.19, 0.31, 0.43]})
FULL = ([0.49, 0.52, 0.55], {"mean": 0.52, "std": 0.03, "min": 0.49, "max": 0.55, "values": [0.49, 0.52, 0.55]})
LORA0 = ([0.45, 0.50, 0.55], {"mean": 0.50, "std": 0.05, "min": 0.45, "max": 0.55, "values": [0.45, 0.50, 0.55]})
LORA1 = ([0.45, 0.48, 0.51], {"mean": 0.48, "std": 0.03, "min": 0.45, "max": 0.51, "values": [0.45, 0.48, 0.51]})


def _templated_board(folder, base=BASE):
    records = [_templated("baseline", "baseline", *base), _templated("full", "full", *FULL),
               _templated("lora", "lora", *LORA0), _templated("lora", "lora", *LORA1, seed=1)]
    rows = {r.variant_id: _rows(values, flip=r.method != "baseline")
            for r, values in zip(records, [base[0], FULL[0], LORA0[0], LORA1[0]])}
    write(folder, records, rows)
    compare_suite(folder)
    return build_table(folder)


def test_the_mean_across_templates_comes_before_the_templates_and_folds_seeds(tmp_path):
    table = _templated_board(tmp_path)
    assert [c.key for c in table.columns if c.kind in ("metric", "templates")] == [
        "templates:d2t/rouge1", "metric:d2t@1/rouge1", "metric:d2t@2/rouge1", "metric:d2t@3/rouge1"]
    cells = {r.name: r.cells["templates:d2t/rouge1"] for r in table.rows}
    assert cells["full"].best and not cells["baseline"].best
    # lora's two seeds: each figure the mean over them (0.50 and 0.48, 0.05 and 0.03, 0.45 and 0.45, per template)
    lora = cells["lora"]
    assert (round(lora.value, 6), round(lora.std, 6), round(lora.lowest, 6), round(lora.highest, 6)) == (0.49, 0.04, 0.45, 0.53)
    assert [round(v, 6) for v in lora.per_template] == [0.45, 0.49, 0.53]
    # compare_suite keeps the summaries it does not own
    assert read_record(tmp_path / table.rows[1].runs[0].variant_id / "record.json").templates["d2t"]["metrics"]["rouge1"] == FULL[1]


def test_the_answer_adds_the_spread_of_the_best_and_keeps_each_template_a_real_eval(tmp_path):
    findings = answer(_templated_board(tmp_path))
    assert [f.column.key for f in findings] == ["templates:d2t/rouge1", "metric:d2t@1/rouge1", "metric:d2t@2/rouge1",
                                                "metric:d2t@3/rouge1"]
    assert findings[0].title(False) == "d2t rouge1 (0-1) across 3 templates"
    assert findings[0].sentences == [
        "Across 3 templates full scores 0.520 ± 0.030 (min 0.490); the baseline 0.310 ± 0.120 (min 0.190): tuning also "
        "lowers prompt sensitivity (a smaller spread across templates, not a tested difference)."]
    # d2t@1 is answered like any eval, from its paired tests: full 0.49 against the baseline's 0.19
    assert any(s.startswith("full beats the baseline by +0.300 rouge1 (95% CI [") for s in findings[1].sentences)


def test_a_wider_spread_than_the_baseline_is_not_called_lower(tmp_path):
    tight = ([0.30, 0.31, 0.32], {"mean": 0.31, "std": 0.01, "min": 0.30, "max": 0.32, "values": [0.30, 0.31, 0.32]})
    sentence = answer(_templated_board(tmp_path, tight))[0].sentences[0]
    assert sentence == ("Across 3 templates full scores 0.520 ± 0.030 (min 0.490); the baseline 0.310 ± 0.010 (min 0.300): "
                        "full is more sensitive to the prompt (a wider spread across templates, not a tested difference).")
    assert "lowers" not in sentence


def test_markdown_html_and_csv_show_the_templates(tmp_path):
    table = _templated_board(tmp_path)
    md = render([table], "md")
    heading = "### d2t across its 3 templates"
    assert md.index(heading) < md.index("### d2t@1 (95% intervals)")
    assert _md_rows(md, heading) == [["baseline", "baseline", "0.310 ± 0.120 (min 0.190)"],
                                     ["full", "full", "**0.520** ± 0.030 (min 0.490)"],
                                     ["lora (2 seeds)", "lora", "0.490 ± 0.040 (min 0.450)"]]
    assert ("- d2t@1: `Summarize: {text}\\nSummary:`\n- d2t@2: `{text}\\n\\nTL;DR:`\n"
            "- d2t@3: `Write one sentence about: {text}`") in md
    page = render([table], "html")
    assert '<th colspan="1">d2t · mean of 3 templates</th><th colspan="1">d2t@1</th>' in page
    assert "per template: 0.490, 0.520, 0.550" in page
    # the CSV keeps its per-template rows, not the derived means
    evals = {row["eval"] for row in csv.DictReader(io.StringIO(render([table], "csv")))}
    assert evals == {"d2t@1", "d2t@2", "d2t@3", "cost"}


def test_a_metric_where_lower_is_better_shows_its_worst_template_as_the_max():
    ter = Column("templates:mt/ter", "templates", "mt", "ter", "", False, "0-100", "mt", "ter", templates=2)
    assert numbers.template_spread(ter, 1.0, 50.0, 52.0) == "± 1.00 (max 52.00)"
    assert numbers.header(ter) == "ter mean (0-100)"
